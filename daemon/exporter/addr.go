package exporter

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/podint/podint/internal/intreport"
)

// parseCollector checks a collector address and returns it as "host:port"
// for net.Dial: "10.0.0.9:9000", "[fd00::9]:9000", "collector.example:9000";
// without a port (including a bare IPv6 address such as "fd00::9"), the
// default port. Names are resolved when the socket is opened, so a
// collector whose name does not resolve yet is retried, not refused.
func parseCollector(s string) (string, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return "", fmt.Errorf("collector %q: empty address", s)
	}
	defPort := strconv.Itoa(intreport.DefaultPort)
	if _, err := netip.ParseAddr(in); err == nil { // a bare address, IPv6 included
		in = net.JoinHostPort(in, defPort)
	} else if strings.HasPrefix(in, "[") && strings.HasSuffix(in, "]") || !strings.Contains(in, ":") {
		in += ":" + defPort
	}
	host, port, err := net.SplitHostPort(in)
	if err != nil {
		return "", fmt.Errorf("collector %q: want host:port, [IPv6]:port or a bare address: %w", s, err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return "", fmt.Errorf("collector %q: port %q is not a number from 1 to 65535", s, port)
	}
	if host == "" {
		return "", fmt.Errorf("collector %q: no host", s)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if a.IsUnspecified() {
			return "", fmt.Errorf("collector %q: %s is not an address to send to", s, a)
		}
		host = a.Unmap().String()
	} else if strings.Contains(host, ":") || strings.ContainsAny(host, " /[]") {
		return "", fmt.Errorf("collector %q: %q is neither an IP address nor a host name", s, host)
	}
	return net.JoinHostPort(host, port), nil
}
