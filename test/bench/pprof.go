package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/podint/podint/test/harness"
)

// pprofAddr is where podintd serves its profiles inside a bench node's
// namespace when --pprof-dir is given (each node has its own namespace).
const pprofAddr = "127.0.0.1:6060"

// profileDaemon fetches a CPU profile of podintd over d from inside ns and
// writes it to path. It runs while a step does: start it in a goroutine.
func profileDaemon(ctx context.Context, ns *harness.NetNS, d time.Duration, path string) error {
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (conn net.Conn, err error) {
			err = ns.Do(func() error {
				conn, err = (&net.Dialer{}).DialContext(ctx, network, addr)
				return err
			})
			return conn, err
		},
	}}
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", pprofAddr, max(1, int(d.Round(time.Second).Seconds())))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("profile podintd: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("profile podintd: %s", res.Status)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, res.Body); err != nil {
		f.Close()
		return fmt.Errorf("profile podintd: %w", err)
	}
	return f.Close()
}
