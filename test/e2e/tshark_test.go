package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podint/podint/internal/intreport"
	"github.com/podint/podint/test/harness"
	"github.com/podint/podint/test/tools"
)

// TestTsharkReadsReportsOfBothFormats captures the reports podintd sends,
// with tshark, and has tshark check the outer IP/UDP headers and parse the
// inner frame (through podint's Lua dissector) as the pods' flow; the same
// for v0.5 and v2.0, each selected by the daemon flag.
func TestTsharkReadsReportsOfBothFormats(t *testing.T) {
	requireRoot(t)
	if err := tools.Need("tshark", "ethtool"); err != nil {
		t.Fatal(err)
	}
	root, err := harness.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	lua := filepath.Join(root, "docs/wireshark/podint-int.lua")
	for _, format := range []string{"v0.5", "v2.0"} {
		t.Run(format, func(t *testing.T) { tsharkFormat(t, format, lua) })
	}
}

func tsharkFormat(t *testing.T, format, lua string) {
	ctx := testContext(t)
	node, err := harness.NewNode(harness.NodeConfig{Name: "ts", BinDir: binDir, Subnet: "10.22.0.0/24",
		SwitchID: "10.0.0.1", DaemonArgs: []string{"--report-format", format}})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	// The collector sits in its own namespace behind a veth, as a real one
	// would, on the standard port (the dissector's). The node's end of the
	// veth computes checksums in software, so the capture holds the real
	// ones rather than an offload placeholder (lo cannot turn that off).
	colNS, err := harness.NewNamespace("collector")
	if err != nil {
		t.Fatal(err)
	}
	defer colNS.Delete()
	if err := node.NS.Do(func() error {
		for _, c := range [][]string{
			{"ip", "link", "add", "col0", "type", "veth", "peer", "name", "eth0", "netns", colNS.Name},
			{"ip", "addr", "add", "198.18.0.1/30", "dev", "col0"},
			{"ip", "link", "set", "col0", "up"},
			{"ethtool", "-K", "col0", "tx", "off"},
		} {
			if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
				return fmt.Errorf("%v: %v: %s", c, err, out)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := colNS.Do(func() error {
		for _, c := range [][]string{{"ip", "addr", "add", "198.18.0.2/30", "dev", "eth0"}, {"ip", "link", "set", "eth0", "up"}} {
			if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
				return fmt.Errorf("%v: %v: %s", c, err, out)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	col, err := harness.NewCollectorOn(colNS, "198.18.0.2:32766")
	if err != nil {
		t.Fatal(err)
	}
	defer col.Close()
	node.Config.Collectors = []string{col.Addr()}
	pcap := filepath.Join(t.TempDir(), "reports.pcap")
	stopCapture := capture(t, node, pcap)
	if err := node.StartDaemon(ctx); err != nil {
		t.Fatal(err)
	}
	a, b := addPod(t, node, "a"), addPod(t, node, "b")
	l, err := b.ListenTCP(5201)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		if c, err := l.Accept(); err == nil {
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	conn, err := a.DialTCP(ctx, netip.AddrPortFrom(b.IP, 5201).String())
	if err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte("seen by tshark"))
	sport := conn.LocalAddr().(*net.TCPAddr).Port
	conn.Close()
	if _, err := col.WaitFor(ctx, func(d *intreport.Decoded) bool {
		return d.Report.Flow.SrcPort == uint16(sport) && d.Report.Flow.DstPort == 5201
	}); err != nil {
		t.Fatal(err)
	}
	// The markers are not INT; every report datagram is of the format asked.
	wantFormat := map[string]intreport.Format{"v0.5": intreport.FormatV05, "v2.0": intreport.FormatV20}[format]
	for _, d := range col.Datagrams() {
		if d.Format != wantFormat {
			t.Fatalf("daemon sent %s datagrams with --report-format %s", d.Format, format)
		}
	}
	stopCapture()

	out, err := exec.Command("tshark", "-r", pcap, "-X", "lua_script:"+lua,
		"-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
		"-T", "fields", "-E", "separator=|", "-e", "ip.checksum.status", "-e", "udp.checksum.status",
		"-e", "ip.src", "-e", "ip.dst", "-e", "tcp.srcport", "-e", "tcp.dstport").CombinedOutput()
	if err != nil {
		t.Fatalf("tshark -r: %v\n%s", err, out)
	}
	found := false
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for _, line := range lines {
		f := strings.Split(line, "|")
		if len(f) < 6 {
			continue
		}
		// The first value of each field is the outer packet's.
		if first(f[0]) != "1" || first(f[1]) != "1" {
			t.Errorf("outer IP/UDP checksum status %q/%q, want good (1): %s", f[0], f[1], line)
		}
		if strings.Contains(f[2], a.IP.String()) && strings.Contains(f[3], b.IP.String()) &&
			strings.Contains(f[4], fmt.Sprint(sport)) && strings.Contains(f[5], "5201") {
			found = true
		}
	}
	if !found {
		t.Fatalf("tshark found no report whose inner frame is tcp %s:%d -> %s:5201 in %d packets:\n%s",
			a.IP, sport, b.IP, len(lines), out)
	}
}

func first(s string) string { v, _, _ := strings.Cut(s, ","); return v }

// capture runs tshark on the node's veth to the collector until the
// returned function is called. It returns once a marker datagram sent from
// the node shows up in the capture: tshark's "Capture started" comes before
// packets are really seen.
func capture(t *testing.T, n *harness.Node, file string) (stop func()) {
	t.Helper()
	cmd := exec.Command("tshark", "-l", "-P", "-i", "col0", "-f", "udp port 32766", "-w", file)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	cmd.Stderr = &log
	if err := n.NS.Do(cmd.Start); err != nil {
		t.Fatalf("start tshark: %v", err)
	}
	// Markers of two lengths: the first shows the capture is live, the last
	// that everything sent before it went through tshark (dumpcap hands
	// packets over in batches).
	lines := make(chan string, 1024)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		close(lines)
	}()
	var marker *net.UDPConn
	if err := n.NS.Do(func() (err error) {
		marker, err = net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(198, 18, 0, 2), Port: 32766})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	waitMarker := func(size int) {
		payload := make([]byte, size)
		deadline := time.After(60 * time.Second)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		marker.Write(payload)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("tshark exited: %s", log.String())
				}
				if strings.Contains(l, fmt.Sprintf("Len=%d", size)) {
					return
				}
			case <-tick.C:
				marker.Write(payload)
			case <-deadline:
				cmd.Process.Kill()
				t.Fatalf("tshark did not show the %d-byte marker: %s", size, log.String())
			}
		}
	}
	waitMarker(7)
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		waitMarker(77)
		marker.Close()
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}
	t.Cleanup(stop)
	return stop
}
