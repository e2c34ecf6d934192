package bpf

import (
	"fmt"
	"net/netip"
)

// MaxWatchRules is how many rules the in-kernel watchlist holds (the
// watchlist map's size, MAX_WATCH_RULES in c/probe.h).
func (p *Collection) MaxWatchRules() int { return int(p.objs.Watchlist.MaxEntries()) }

// WatchRule selects flows to report. A zero Prefix matches any address; a
// zero Proto any protocol. Port ranges are inclusive; for ICMP and ICMPv6
// they range over the type (source) and code (destination).
type WatchRule struct {
	Proto    uint8
	Src, Dst netip.Prefix
	SrcPorts [2]uint16
	DstPorts [2]uint16
}

// SetWatchlist replaces the rules in force. No rules reports every flow.
// Flows decided under the previous rules are decided again on their next
// packet.
func (p *Collection) SetWatchlist(rules []WatchRule) error {
	if len(rules) > p.MaxWatchRules() {
		return fmt.Errorf("watchlist has %d rules; at most %d fit in the kernel", len(rules), p.MaxWatchRules())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, r := range rules {
		v := probeWatchRule{Proto: r.Proto,
			SportLo: r.SrcPorts[0], SportHi: r.SrcPorts[1], DportLo: r.DstPorts[0], DportHi: r.DstPorts[1]}
		v.Src, v.SrcMask = prefixBytes(r.Src)
		v.Dst, v.DstMask = prefixBytes(r.Dst)
		if err := p.objs.Watchlist.Put(uint32(i), &v); err != nil {
			return fmt.Errorf("write watchlist rule %d: %w", i, err)
		}
	}
	// The count switches atomically to the new rules once they are written.
	p.settings.WatchRules = uint32(len(rules))
	p.settings.WatchGen++
	return p.writeSettings()
}

// prefixBytes returns the v4-mapped address and mask of a prefix, as the
// probes key flows; an invalid (zero) prefix matches everything.
func prefixBytes(pfx netip.Prefix) (addr, mask [16]byte) {
	if !pfx.IsValid() {
		return
	}
	bits := pfx.Bits()
	a := pfx.Masked().Addr()
	if a.Is4() {
		bits += 96
		a = netip.AddrFrom16(a.As16())
	}
	addr = a.As16()
	for i := 0; i < bits; i++ {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	return addr, mask
}
