package exporter

import (
	"fmt"
	"net"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/podint/podint/internal/intreport"
)

func TestParseCollector(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.9":              "10.0.0.9:32766",
		"10.0.0.9:9000":         "10.0.0.9:9000",
		"[fd00::9]:9000":        "[fd00::9]:9000",
		"[fd00::9]":             "[fd00::9]:32766",
		"fd00::9":               "[fd00::9]:32766",
		"collector.example":     "collector.example:32766",
		"collector.example:123": "collector.example:123",
		" [::ffff:10.0.0.9]:1 ": "10.0.0.9:1",
	} {
		got, err := parseCollector(in)
		if err != nil || got != want {
			t.Errorf("parseCollector(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"":                `collector "": empty address`,
		"10.0.0.9:0":      `collector "10.0.0.9:0": port "0" is not a number from 1 to 65535`,
		"10.0.0.9:x":      `collector "10.0.0.9:x": port "x" is not a number from 1 to 65535`,
		"0.0.0.0:1":       `collector "0.0.0.0:1": 0.0.0.0 is not an address to send to`,
		":9000":           `collector ":9000": no host`,
		"bad:port:x":      `collector "bad:port:x": want host:port, [IPv6]:port or a bare address: address bad:port:x: too many colons in address`,
		"a b:1":           `collector "a b:1": "a b" is neither an IP address nor a host name`,
		"[fd00::9]:99999": `collector "[fd00::9]:99999": port "99999" is not a number from 1 to 65535`,
	} {
		if _, err := parseCollector(in); err == nil || err.Error() != want {
			t.Errorf("parseCollector(%q): %v\n  want %s", in, err, want)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{HwID: 64}, "hw_id 64: the field has 6 bits, so 0-63"},
		{Config{SnapLen: 40}, "snap length 40: below 74 bytes the inner headers do not fit"},
		{Config{SnapLen: 1500}, "MTU 1500: a v0.5 report with a 1500-byte frame needs 1576 bytes with its IPv6 and UDP headers"},
		{Config{Format: intreport.FormatV20, MTU: 150}, "MTU 150: a v2.0 datagram needs at least 178 bytes with its IPv6 and UDP headers"},
		{Config{Format: 7}, "report format 7: want v0.5 or v2.0"},
		{Config{Collectors: []string{"x:1", "x:1"}}, `collector "x:1": listed twice`},
	} {
		_, err := New(tc.cfg, nil)
		if err == nil || err.Error() != tc.want {
			t.Errorf("New(%+v): %v\n  want %s", tc.cfg, err, tc.want)
		}
	}
}

func TestHwIDIsStableAndSixBits(t *testing.T) {
	if HwID("node-a") != HwID("node-a") {
		t.Fatal("HwID is not deterministic")
	}
	if got := HwID("kind-worker"); got != 32 {
		t.Fatalf("HwID(kind-worker) = %d; changing it renumbers every deployed node", got)
	}
	// Node names often differ only in their last character.
	if HwID("n1") == HwID("n2") || HwID("node-1") == HwID("node-2") {
		t.Fatalf("neighbouring names share a hw_id: n1 %d n2 %d node-1 %d node-2 %d",
			HwID("n1"), HwID("n2"), HwID("node-1"), HwID("node-2"))
	}
	seen := map[uint8]bool{}
	for i := range 1000 {
		h := HwID(fmt.Sprintf("node-%d", i))
		if h > 63 {
			t.Fatalf("HwID(node-%d) = %d, wider than 6 bits", i, h)
		}
		seen[h] = true
	}
	if len(seen) < 60 {
		t.Fatalf("1000 names map to only %d hw_ids", len(seen))
	}
}

func TestDontFragmentIsSet(t *testing.T) {
	for _, tc := range []struct {
		addr       string
		level, opt int
		v6         bool
	}{
		{"127.0.0.1:9", unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, false},
		{"[::1]:9", unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, true},
	} {
		c, err := net.Dial("udp", tc.addr)
		if err != nil {
			t.Logf("%s: %v (skipped)", tc.addr, err)
			continue
		}
		uc := c.(*net.UDPConn)
		if err := setDontFragment(uc, tc.v6); err != nil {
			t.Fatal(err)
		}
		rc, _ := uc.SyscallConn()
		var v int
		var gerr error
		rc.Control(func(fd uintptr) { v, gerr = unix.GetsockoptInt(int(fd), tc.level, tc.opt) })
		c.Close()
		if gerr != nil || v != unix.IP_PMTUDISC_DO {
			t.Fatalf("%s: path MTU discovery mode %d (%v), want %d (do: DF set)", tc.addr, v, gerr, unix.IP_PMTUDISC_DO)
		}
	}
}
