package identity

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/podint/podint/internal/topology"
)

// node serves a topology with one pod on 127.0.0.1 (switch id 127.0.0.1),
// answering only the bearer token "tok".
func nodeServer(t *testing.T) (port int, requests *int) {
	t.Helper()
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		if r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		if r.URL.Path == topology.TranslationsPath {
			json.NewEncoder(w).Encode(topology.Translations{Node: "n1", Connections: []topology.Translation{{ID: 1, Proto: 6,
				Src: "10.22.1.5:40000", Dst: "10.22.2.9:8080", Client: "10.22.1.5:40000", Service: "10.96.0.10:80"}}})
			return
		}
		json.NewEncoder(w).Encode(nodeWith("n1", pod(7, "shop", "web-1", "u1", "10.22.1.5")))
	}))
	t.Cleanup(srv.Close)
	_, p, _ := net.SplitHostPort(srv.Listener.Addr().String())
	port, _ = strconv.Atoi(p)
	return port, &n
}

func tokenFile(t *testing.T, tok string) string {
	f := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(f, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

var loopback = binary.BigEndian.Uint32([]byte{127, 0, 0, 1})

func TestPollerReadsTheNodeThatSends(t *testing.T) {
	port, _ := nodeServer(t)
	dir := NewDirectory()
	p := NewPoller(PollerConfig{Port: port, TokenFile: tokenFile(t, "tok"), Interval: time.Hour}, dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Run(ctx)
	p.Saw(loopback, netip.MustParseAddr("127.0.0.1"), time.Now())
	deadline := time.Now().Add(time.Minute)
	for {
		if pod, ok := dir.PodAt(netip.MustParseAddr("10.22.1.5"), time.Now()); ok {
			if pod.Name != "web-1" || pod.Node != "n1" {
				t.Errorf("pod %+v, want web-1 on n1", pod)
			}
			if dir.NAT.Len() == 1 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node's topology was never read (%d poll errors)", p.Errors())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPollerIgnoresSwitchIDsOfOtherSenders(t *testing.T) {
	port, requests := nodeServer(t)
	p := NewPoller(PollerConfig{Port: port, TokenFile: tokenFile(t, "tok")}, NewDirectory())
	// A datagram from 192.0.2.9 claiming switch id 127.0.0.1: never polled.
	p.Saw(loopback, netip.MustParseAddr("192.0.2.9"), time.Now())
	p.pollDue(context.Background())
	if *requests != 0 {
		t.Errorf("%d requests to a switch id its sender does not own", *requests)
	}
}

func TestPollerCountsAWrongToken(t *testing.T) {
	port, _ := nodeServer(t)
	p := NewPoller(PollerConfig{Port: port, TokenFile: tokenFile(t, "wrong")}, NewDirectory())
	p.Saw(loopback, netip.MustParseAddr("127.0.0.1"), time.Now())
	p.pollDue(context.Background())
	if p.Errors() != 1 {
		t.Errorf("%d poll errors, want 1 (401)", p.Errors())
	}
}

func TestPollerReadsTheNodesTranslations(t *testing.T) {
	port, _ := nodeServer(t)
	dir := NewDirectory()
	p := NewPoller(PollerConfig{Port: port, TokenFile: tokenFile(t, "tok"), Interval: time.Hour}, dir)
	p.Saw(loopback, netip.MustParseAddr("127.0.0.1"), time.Now())
	p.pollDue(context.Background())
	req := flow("10.22.1.5", 40000, "10.22.2.9", 8080)
	tr, role, ok := dir.NAT.Lookup(req, time.Now())
	if !ok || role != RoleRequest || tr.Service.String() != "10.96.0.10:80" || p.Errors() != 0 {
		t.Errorf("lookup of the polled connection: %+v %v %v (%d poll errors), want its request sent to 10.96.0.10:80", tr, role, ok, p.Errors())
	}
}
