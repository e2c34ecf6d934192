-- Wireshark/tshark dissector for podint's INT reports (Telemetry Report
-- v0.5 and v2.0 on UDP 32766): shows the report header and hands each
-- inner frame to Wireshark's own Ethernet or IP dissector.
local int = Proto("podint_int", "INT Telemetry Report")
local f_ver = ProtoField.uint8("podint_int.ver", "Version")
local f_hw = ProtoField.uint8("podint_int.hw_id", "hw_id")
local f_seq = ProtoField.uint32("podint_int.seq", "Sequence number")
local f_sw = ProtoField.ipv4("podint_int.switch_id", "Switch (node) id")
int.fields = { f_ver, f_hw, f_seq, f_sw }

local inner = {
  [3] = Dissector.get("eth_withoutfcs"),
  [4] = Dissector.get("ip"),
  [5] = Dissector.get("ipv6"),
}

function int.dissector(buf, pinfo, tree)
  if buf:len() < 8 then return 0 end
  pinfo.cols.protocol = "INT"
  local t = tree:add(int, buf(), "INT Telemetry Report")
  local ver = buf(0, 1):bitfield(0, 4)
  t:add(f_ver, buf(0, 1), ver)
  if ver == 0 and buf:len() >= 12 then
    local nproto = buf(0, 1):bitfield(4, 4)
    t:add(f_hw, buf(3, 1), buf(3, 1):bitfield(2, 6))
    t:add(f_seq, buf(4, 4))
    local off = ({ [0] = 12, [1] = 24, [2] = 28 })[nproto]
    if off and nproto > 0 and buf:len() >= off then t:add(f_sw, buf(12, 4)) end
    if off and buf:len() > off then inner[3]:call(buf(off):tvb(), pinfo, tree) end
  elseif ver == 2 then
    t:add(f_hw, buf(0, 2), buf(0, 2):bitfield(4, 6))
    t:add(f_seq, buf(0, 4), buf(0, 4):bitfield(10, 22))
    t:add(f_sw, buf(4, 4))
    local off = 8
    while off + 4 <= buf:len() do
      local rep_type, in_type = buf(off, 1):bitfield(0, 4), buf(off, 1):bitfield(4, 4)
      local len = 4 + 4 * buf(off + 1, 1):uint()
      if off + len > buf:len() then break end
      local start = off + 4
      if rep_type == 1 then start = start + 8 + 4 * buf(off + 2, 1):uint() end
      if inner[in_type] and start < off + len then
        inner[in_type]:call(buf(start, off + len - start):tvb(), pinfo, tree)
      end
      off = off + len
    end
  end
  return buf:len()
end

DissectorTable.get("udp.port"):add(32766, int)
