package main

import (
	"encoding/binary"
	"net"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// frame is a test packet for BPF_PROG_TEST_RUN whose flow can be changed
// in place, so a benchmark can feed a new flow to every run without
// building a packet each time (the probes do not check checksums).
type frame struct {
	b     []byte
	ipOff int
	l4Off int
	v6    bool
}

// tcpFrame is Ethernet / IPv4 or IPv6 / TCP (ACK) with payload bytes: a
// packet of an established pod-to-pod flow.
func tcpFrame(v6 bool, payload int) frame {
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 0xa}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 0xb}}
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 5201, Seq: 1, Ack: 1, ACK: true, Window: 1000}
	var ip gopacket.SerializableLayer
	f := frame{ipOff: 14, v6: v6}
	if v6 {
		eth.EthernetType = layers.EthernetTypeIPv6
		i := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP,
			SrcIP: net.ParseIP("fd00:22::2"), DstIP: net.ParseIP("fd00:22::3")}
		_ = tcp.SetNetworkLayerForChecksum(i)
		ip, f.l4Off = i, 14+40
	} else {
		eth.EthernetType = layers.EthernetTypeIPv4
		i := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP,
			SrcIP: net.IP{10, 22, 0, 2}, DstIP: net.IP{10, 22, 0, 3}}
		_ = tcp.SetNetworkLayerForChecksum(i)
		ip, f.l4Off = i, 14+20
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, eth, ip, tcp, gopacket.Payload(make([]byte, payload))); err != nil {
		panic("serialize test frame: " + err.Error()) // fixed layers: cannot fail
	}
	f.b = buf.Bytes()
	return f
}

// setFlow makes the frame packet i of a distinct flow: the low 16 bits of
// i are the source port, the next 16 the low half of the source address.
func (f frame) setFlow(i uint32) {
	binary.BigEndian.PutUint16(f.b[f.l4Off:], uint16(i))
	src := f.ipOff + 12 + 2 // IPv4: the last two bytes of the source address
	if f.v6 {
		src = f.ipOff + 8 + 14 // IPv6: the last two bytes of the source address
	}
	binary.BigEndian.PutUint16(f.b[src:], uint16(i>>16)|0x100) // never .0.0
}
