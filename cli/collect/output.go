package collect

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/podint/podint/internal/intreport"
)

// switchName renders a switch id the way podint assigns them: the node's
// IPv4 address as a 32-bit number.
func switchName(id uint32) string {
	return netip.AddrFrom4([4]byte{byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)}).String()
}

func reasonText(code uint8) string {
	if name := intreport.DropReasonName(code); name != "" {
		return fmt.Sprintf("%d (%s)", code, name)
	}
	return fmt.Sprint(code)
}

// FormatLine renders r as one line of text:
//
//	flow tcp 10.22.0.2:40000 -> 10.22.0.3:5201 switch 10.0.0.1 port 7 -> 9 hop 12.3µs seq 42
//	drop udp 10.22.0.2:40000 -> 10.22.0.3:53 switch 10.0.0.1 port 7 reason 80 (acl deny) seq 43
func FormatLine(r *Received) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s switch %s", r.Kind, r.Flow, switchName(r.SwitchID))
	if t := r.Packet.Tunnel; t != nil {
		fmt.Fprintf(&b, " via %s vni %d", t.Proto, t.VNI)
	}
	if r.Kind == intreport.KindDrop {
		fmt.Fprintf(&b, " port %d reason %s", r.IngressPort, reasonText(r.DropReason))
	} else {
		fmt.Fprintf(&b, " port %d -> %d hop %s", r.IngressPort, r.EgressPort, hopText(r.HopLatency()))
	}
	fmt.Fprintf(&b, " seq %d", r.Seq)
	if r.FrameErr != nil {
		fmt.Fprintf(&b, " (%v)", r.FrameErr)
	}
	return b.String()
}

// hopText renders a hop latency, "-" when it is unknown (the packet passed
// no probed ingress port), which is not 0.
func hopText(ns uint64, ok bool) string {
	if !ok {
		return "-"
	}
	return time.Duration(ns).String()
}

// jsonReport is the JSON line of a report; field names follow the specs.
type jsonReport struct {
	Time           time.Time   `json:"time"`
	From           string      `json:"from"`
	Format         string      `json:"format"`
	HwID           uint8       `json:"hw_id"`
	Seq            uint32      `json:"seq"`
	Kind           string      `json:"kind"`
	Switch         string      `json:"switch"`
	IngressPort    uint32      `json:"ingress_port"`
	EgressPort     uint32      `json:"egress_port"`
	QueueID        uint8       `json:"queue_id"`
	QueueOccupancy uint32      `json:"queue_occupancy"`
	IngressTS      uint64      `json:"ingress_ts"`
	EgressTS       uint64      `json:"egress_ts"`
	HopLatencyNS   *uint64     `json:"hop_latency_ns,omitempty"` // absent when unknown
	DropReason     *uint8      `json:"drop_reason,omitempty"`
	DropReasonName string      `json:"drop_reason_name,omitempty"`
	Flow           jsonFlow    `json:"flow"`
	Tunnel         *jsonTunnel `json:"tunnel,omitempty"`
	FrameLen       uint32      `json:"frame_len,omitempty"`
	FrameError     string      `json:"frame_error,omitempty"`
}

type jsonFlow struct {
	Proto   string `json:"proto"`
	Src     string `json:"src"`
	Dst     string `json:"dst"`
	SrcPort uint16 `json:"src_port"` // ICMP: type
	DstPort uint16 `json:"dst_port"` // ICMP: code
}

type jsonTunnel struct {
	Proto string   `json:"proto"`
	VNI   uint32   `json:"vni"`
	Outer jsonFlow `json:"outer"`
}

func toJSONFlow(f intreport.Flow) jsonFlow {
	j := jsonFlow{Proto: intreport.ProtoName(f.Proto), SrcPort: f.SrcPort, DstPort: f.DstPort}
	if f.Src.IsValid() {
		j.Src, j.Dst = f.Src.String(), f.Dst.String()
	}
	return j
}

// FormatJSON renders r as one JSON object (without the newline).
func FormatJSON(r *Received) ([]byte, error) {
	j := jsonReport{
		Time: r.At, From: r.From.String(), Format: r.Format.String(), HwID: r.HwID, Seq: r.Seq,
		Kind: r.Kind.String(), Switch: switchName(r.SwitchID),
		IngressPort: r.IngressPort, EgressPort: r.EgressPort,
		QueueID: r.QueueID, QueueOccupancy: r.QueueOccupancy,
		IngressTS: r.IngressTS, EgressTS: r.EgressTS,
		Flow: toJSONFlow(r.Flow), FrameLen: r.FrameLen,
	}
	if lat, ok := r.HopLatency(); ok {
		j.HopLatencyNS = &lat
	}
	if r.Kind == intreport.KindDrop {
		reason := r.DropReason
		j.DropReason, j.DropReasonName = &reason, intreport.DropReasonName(reason)
	}
	if t := r.Packet.Tunnel; t != nil {
		j.Tunnel = &jsonTunnel{Proto: t.Proto, VNI: t.VNI, Outer: toJSONFlow(r.Packet.Flow)}
	}
	if r.FrameErr != nil {
		j.FrameError = r.FrameErr.Error()
	}
	return json.Marshal(j)
}

// WriteSummary prints s as tables: the top maxFlows flows (0: all), drops
// by reason, and per source sequence accounting. Times are relative to now.
func WriteSummary(w io.Writer, s Summary, now time.Time, maxFlows int) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "%d datagrams, %d reports, %d malformed\n\n", s.Datagrams, s.Reports, s.Malformed)
	fmt.Fprintln(tw, "SWITCH\tFLOW\tPACKETS\tHOP P50\tHOP P99\tHOP MAX\tLAST SEEN")
	flows := s.Flows
	if maxFlows > 0 && len(flows) > maxFlows {
		flows = flows[:maxFlows]
	}
	for _, f := range flows {
		known := f.HopReports > 0
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s ago\n", switchName(f.SwitchID), f.Flow, f.Packets,
			hopText(uint64(f.HopP50), known), hopText(uint64(f.HopP99), known), hopText(uint64(f.HopMax), known),
			now.Sub(f.LastSeen).Round(time.Second))
	}
	if n := len(s.Flows) - len(flows); n > 0 {
		fmt.Fprintf(tw, "\t(%d more flows)\n", n)
	}
	fmt.Fprintln(tw, "\nDROP REASON\tREPORTS")
	for _, d := range s.Drops {
		fmt.Fprintf(tw, "%s\t%d\n", reasonText(d.Reason), d.Count)
	}
	fmt.Fprintln(tw, "\nSOURCE\tFORMAT\tHW_ID\tDATAGRAMS\tLOST\tREORDERED\tRESTARTS\tLAST SEQ")
	for _, src := range s.Sources {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\n", src.From, src.Format, src.HwID,
			src.Datagrams, src.Lost, src.Reordered, src.Restarts, src.LastSeq)
	}
	if s.SubscriberDrops > 0 {
		fmt.Fprintf(tw, "\n%d reports not taken by a slow subscriber\n", s.SubscriberDrops)
	}
	return tw.Flush()
}
