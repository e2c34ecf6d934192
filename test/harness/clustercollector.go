package harness

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// ClusterCollector is podint-collector running in a namespace (for a
// cluster: the fabric, where every node's uplink reaches it).
type ClusterCollector struct {
	NS      *NetNS
	HTTP    string // its /metrics address, inside NS
	LogPath string
	cmd     *exec.Cmd
	exited  chan struct{}
}

// StartClusterCollector runs binDir/podint-collector in ns with args (add
// --listen, --http-listen, --database-url, ...) and waits until its
// /healthz answers on httpAddr.
func StartClusterCollector(ctx context.Context, ns *NetNS, binDir, httpAddr string, args ...string) (*ClusterCollector, error) {
	logf, err := os.CreateTemp("", Prefix+"collector-*.log")
	if err != nil {
		return nil, err
	}
	c := &ClusterCollector{NS: ns, HTTP: httpAddr, LogPath: logf.Name(), exited: make(chan struct{})}
	c.cmd = exec.Command(filepath.Join(binDir, "podint-collector"), append([]string{"--http-listen", httpAddr}, args...)...)
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	if err := ns.Start(c.cmd); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start podint-collector: %w", err)
	}
	go func() { c.cmd.Wait(); logf.Close(); close(c.exited) }()
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		if _, err := c.Get("/healthz"); err == nil {
			return c, nil
		}
		select {
		case <-c.exited:
			return nil, fmt.Errorf("podint-collector exited:\n%s", c.Log())
		case <-wctx.Done():
			c.Stop(syscall.SIGKILL)
			return nil, fmt.Errorf("podint-collector did not answer on %s:\n%s", httpAddr, c.Log())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Get fetches path from the collector's HTTP listener, from inside its
// namespace (the connection is opened there).
func (c *ClusterCollector) Get(path string) (string, error) {
	var conn net.Conn
	if err := c.NS.Do(func() (err error) {
		conn, err = net.DialTimeout("tcp", c.HTTP, 5*time.Second)
		return err
	}); err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	req, _ := http.NewRequest(http.MethodGet, "http://"+c.HTTP+path, nil)
	req.Close = true
	if err := req.Write(conn); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return string(b), err
}

// Log is what the collector wrote.
func (c *ClusterCollector) Log() string {
	b, _ := os.ReadFile(c.LogPath)
	return string(b)
}

// Stop signals the collector and waits for it to exit.
func (c *ClusterCollector) Stop(sig syscall.Signal) error {
	select {
	case <-c.exited:
		return nil
	default:
	}
	c.cmd.Process.Signal(sig)
	select {
	case <-c.exited:
	case <-time.After(30 * time.Second):
		c.cmd.Process.Kill()
		<-c.exited
	}
	return nil
}

// Close stops the collector and removes its log.
func (c *ClusterCollector) Close() error {
	c.Stop(syscall.SIGTERM)
	return os.Remove(c.LogPath)
}

// PID is the collector's process id.
func (c *ClusterCollector) PID() int { return c.cmd.Process.Pid }
