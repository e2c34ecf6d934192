package identity

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/podint/podint/internal/topology"
)

// DefaultPollInterval is how often each node's topology is read.
const DefaultPollInterval = 5 * time.Second

// PollerConfig says how to reach the nodes' topology endpoints.
type PollerConfig struct {
	Port      int           // podintd's --http-listen port on the node's switch-id address
	Interval  time.Duration // default DefaultPollInterval
	TokenFile string        // bearer token sent to the nodes, re-read at each poll; "" sends none
	MaxNodes  int           // nodes polled at most (a spoofed flood must not grow this); default 4096
	// AnySender polls a switch id's address even when its reports come from
	// another address (a NAT between nodes and collector). By default only
	// a switch id that is its sender's address is polled, so that anyone
	// able to send a datagram cannot make the collector connect anywhere.
	AnySender bool
}

// forgetAfter is how long a node that sends nothing stays polled.
const forgetAfter = 10 * time.Minute

// Poller learns nodes from the switch ids of their reports (by convention
// the node's IPv4 address) and keeps the Directory fed with their
// topology.
type Poller struct {
	cfg    PollerConfig
	dir    *Directory
	client *http.Client

	mu      sync.Mutex
	nodes   map[uint32]*nodePoll
	wake    chan struct{}
	errorsN uint64
	// notSender counts reports whose switch id is not their sender's
	// address (not polled, see AnySender); logged once per switch id.
	notSender map[uint32]bool
}

type nodePoll struct {
	next     time.Time // zero: poll now
	lastErr  string
	lastSeen time.Time // of a report
}

// NewPoller returns a poller feeding dir.
func NewPoller(cfg PollerConfig, dir *Directory) *Poller {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultPollInterval
	}
	if cfg.MaxNodes <= 0 {
		cfg.MaxNodes = 4096
	}
	// A node's polls are due every Interval and run on the next tick of
	// Run's loop: the poll after a pod appears comes at most that late.
	dir.Grace = cfg.Interval + pollTick
	return &Poller{cfg: cfg, dir: dir, client: &http.Client{Timeout: 5 * time.Second},
		nodes: map[uint32]*nodePoll{}, wake: make(chan struct{}, 1), notSender: map[uint32]bool{}}
}

// SwitchIP is the address a switch id stands for.
func SwitchIP(switchID uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], switchID)
	return netip.AddrFrom4(b)
}

// Saw tells the poller that a report of switchID came from sender at at;
// a new node is polled at once. Cheap enough for every report.
func (p *Poller) Saw(switchID uint32, sender netip.Addr, at time.Time) {
	if p.cfg.Port == 0 {
		return
	}
	p.mu.Lock()
	n, known := p.nodes[switchID]
	if known {
		n.lastSeen = at
		p.mu.Unlock()
		return
	}
	added := false
	switch {
	case !p.cfg.AnySender && SwitchIP(switchID) != sender.Unmap():
		if !p.notSender[switchID] && len(p.notSender) < p.cfg.MaxNodes {
			p.notSender[switchID] = true
			slog.Warn("reports of a switch id come from another address: its topology is not read (--node-topology-any-sender reads it)",
				"switch", SwitchIP(switchID), "sender", sender)
		}
	case len(p.nodes) < p.cfg.MaxNodes:
		p.nodes[switchID] = &nodePoll{lastSeen: at}
		added = true
	}
	p.mu.Unlock()
	if added {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// Errors counts failed polls.
func (p *Poller) Errors() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.errorsN
}

// pollTick is how often Run looks for due polls.
const pollTick = time.Second

// Run polls until ctx ends.
func (p *Poller) Run(ctx context.Context) {
	tick := time.NewTicker(pollTick)
	defer tick.Stop()
	for {
		p.pollDue(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-p.wake:
		}
	}
}

func (p *Poller) pollDue(ctx context.Context) {
	now := time.Now()
	var due []uint32
	p.mu.Lock()
	for sw, n := range p.nodes {
		if now.Sub(n.lastSeen) > forgetAfter { // gone: a later report brings it back
			delete(p.nodes, sw)
			continue
		}
		if !now.Before(n.next) {
			due = append(due, sw)
			// Due every Interval from the last due time, not from when the
			// tick saw it: polls do not drift to Interval + pollTick apart.
			n.next = n.next.Add(p.cfg.Interval)
			if n.next.Before(now) {
				n.next = now.Add(p.cfg.Interval)
			}
		}
	}
	p.mu.Unlock()
	for _, sw := range due {
		err := p.poll(ctx, sw)
		p.mu.Lock()
		n := p.nodes[sw]
		if n == nil {
			p.mu.Unlock()
			continue
		}
		msg := ""
		if err != nil {
			p.errorsN++
			msg = err.Error()
		}
		if msg != n.lastErr { // log changes, not every failed poll
			if err != nil {
				slog.Warn("node topology unavailable: its pods stay unnamed", "node", SwitchIP(sw), "err", err)
			} else {
				slog.Info("node topology read again", "node", SwitchIP(sw))
			}
		}
		n.lastErr = msg
		p.mu.Unlock()
	}
}

func (p *Poller) poll(ctx context.Context, sw uint32) error {
	var t topology.HostReporterTopology
	at := time.Now()
	if _, err := p.get(ctx, sw, "/api/v1/topology", &t); err != nil {
		return err
	}
	p.dir.Apply(sw, t, at)
	// The node's NATed connections: which Service a flow was sent to. A
	// podintd older than the endpoint answers 404: no translations.
	var nat topology.Translations
	at = time.Now()
	if found, err := p.get(ctx, sw, topology.TranslationsPath, &nat); err != nil {
		return err
	} else if found {
		p.dir.NAT.Apply(sw, nat, at)
	}
	return nil
}

// get decodes the JSON at path on node sw into v; false when the node
// does not serve it (404).
func (p *Poller) get(ctx context.Context, sw uint32, path string, v any) (bool, error) {
	url := "http://" + net.JoinHostPort(SwitchIP(sw).String(), strconv.Itoa(p.cfg.Port)) + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err
	}
	if p.cfg.TokenFile != "" {
		tok, err := os.ReadFile(p.cfg.TokenFile)
		if err != nil {
			return false, fmt.Errorf("topology token: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return false, fmt.Errorf("GET %s: %w (is podintd running with --http-listen on port %d?)", url, err, p.cfg.Port)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound && path != "/api/v1/topology" {
		return false, nil
	}
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("GET %s: %s (a 401 means the token file does not match the node's)", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return false, fmt.Errorf("GET %s: %w", url, err)
	}
	return true, nil
}
