package collect

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/podint/podint/internal/intreport"
)

// liveFlows is how many flows the live table shows: a screenful.
const liveFlows = 20

// Options configure Run.
type Options struct {
	Listen   string    // UDP address to listen on; default ":32766"
	JSON     bool      // one JSON object per report instead of a line of text
	Summary  bool      // a live table on a terminal, else a table printed at exit
	PcapPath string    // write every received datagram to this pcap file
	Out      io.Writer // default os.Stdout
	// OnListen, when set, is told the bound address (useful with port 0).
	OnListen func(net.Addr)
}

// Run collects reports until ctx ends. On a terminal with Summary, the
// table replaces the per-report lines (they would scroll it away) and is
// redrawn every second; otherwise reports stream as lines and the table,
// if asked for, is printed when Run returns.
func Run(ctx context.Context, o Options) error {
	if o.Listen == "" {
		o.Listen = fmt.Sprintf(":%d", intreport.DefaultPort)
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	conn, err := net.ListenPacket("udp", o.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.Listen, err)
	}
	defer conn.Close()
	local := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	if o.OnListen != nil {
		o.OnListen(conn.LocalAddr())
	}

	c := NewCollector()
	var outMu sync.Mutex // report lines and the live table share Out
	live := o.Summary && IsTerminal(o.Out)
	if !live {
		c.OnReport(func(r Received) {
			outMu.Lock()
			defer outMu.Unlock()
			if o.JSON {
				if b, err := FormatJSON(&r); err == nil {
					fmt.Fprintf(o.Out, "%s\n", b)
				}
				return
			}
			fmt.Fprintln(o.Out, FormatLine(&r))
		})
		c.OnError(func(at time.Time, from netip.AddrPort, err error) {
			outMu.Lock()
			defer outMu.Unlock()
			if o.JSON {
				fmt.Fprintf(o.Out, "{\"time\":%q,\"from\":%q,\"error\":%q}\n", at.Format(time.RFC3339Nano), from, err)
				return
			}
			fmt.Fprintf(o.Out, "malformed datagram from %s: %v\n", from, err)
		})
	}

	var pcap *pcapFile
	if o.PcapPath != "" {
		if pcap, err = createPcap(o.PcapPath, local); err != nil {
			return err
		}
		c.OnDatagram(pcap.write)
	}

	served := make(chan error, 1)
	go func() { served <- c.Serve(ctx, conn) }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var serveErr error
loop:
	for {
		select {
		case serveErr = <-served:
			break loop
		case now := <-tick.C:
			if pcap != nil {
				pcap.flush() // so a file read while collecting is at most a second behind
			}
			if live {
				outMu.Lock()
				fmt.Fprint(o.Out, "\x1b[H\x1b[2J") // home, clear screen
				WriteSummary(o.Out, c.Summary(), now, liveFlows)
				outMu.Unlock()
			}
		}
	}
	if pcap != nil {
		if err := pcap.close(); err != nil && serveErr == nil {
			serveErr = err
		}
	}
	if o.Summary {
		outMu.Lock()
		if !live {
			fmt.Fprintln(o.Out)
		}
		WriteSummary(o.Out, c.Summary(), time.Now(), 0)
		outMu.Unlock()
	}
	if serveErr != nil {
		return fmt.Errorf("receive on %s: %w", o.Listen, serveErr)
	}
	return nil
}

// pcapFile is a PcapWriter on a buffered file; write errors are kept and
// reported when the file is closed, so a full disk does not stop collecting.
type pcapFile struct {
	f   *os.File
	bw  *bufio.Writer
	pw  *PcapWriter
	mu  sync.Mutex
	err error
}

func createPcap(path string, local netip.AddrPort) (*pcapFile, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("pcap file: %w", err)
	}
	p := &pcapFile{f: f, bw: bufio.NewWriterSize(f, 1<<16)}
	if p.pw, err = NewPcapWriter(p.bw, local); err != nil {
		f.Close()
		return nil, fmt.Errorf("pcap file %s: %w", path, err)
	}
	return p, nil
}

func (p *pcapFile) write(at time.Time, from netip.AddrPort, payload []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.pw.WriteDatagram(at, from, payload); err != nil && p.err == nil {
		p.err = fmt.Errorf("pcap file %s: %w", p.f.Name(), err)
	}
}

func (p *pcapFile) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.bw.Flush(); err != nil && p.err == nil {
		p.err = fmt.Errorf("pcap file %s: %w", p.f.Name(), err)
	}
}

func (p *pcapFile) close() error {
	p.flush()
	if err := p.f.Close(); err != nil && p.err == nil {
		p.err = fmt.Errorf("pcap file %s: %w", p.f.Name(), err)
	}
	return p.err
}
