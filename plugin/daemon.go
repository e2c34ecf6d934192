package plugin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/podint/podint/internal/apiclient"
	podintv1 "github.com/podint/podint/proto/podint/v1"
)

// daemonTimeout bounds all of one plugin call's exchanges with the daemon,
// dial included: pod creation must never wait long on podint.
const daemonTimeout = 2 * time.Second

// errDaemonDown is a daemon that cannot be reached at all.
var errDaemonDown = errors.New("podintd is not running")

// daemonConn is one plugin call's connection to podintd. Its calls share one
// deadline, so a hung daemon costs a verb daemonTimeout, not that per call.
type daemonConn struct {
	client  podintv1.PodintClient
	closeFn func() error
	ctx     context.Context
	cancel  context.CancelFunc
}

func dialDaemon(socket string) (*daemonConn, error) {
	// Without a socket there is nothing to wait for: say so at once.
	if _, err := os.Stat(socket); err != nil {
		return nil, fmt.Errorf("%w: no socket at %s (start podintd with the same root): %w", errDaemonDown, socket, err)
	}
	c, closeFn, err := apiclient.Dial(socket)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), daemonTimeout)
	return &daemonConn{client: c, closeFn: closeFn, ctx: ctx, cancel: cancel}, nil
}

func (d *daemonConn) Close() {
	d.cancel()
	_ = d.closeFn()
}

func (d *daemonConn) register(p *podintv1.Probe) error {
	_, err := d.client.Register(d.ctx, &podintv1.RegisterRequest{Probe: p})
	return err
}

func (d *daemonConn) unregister(containerID, podIf string) error {
	_, err := d.client.Unregister(d.ctx, &podintv1.UnregisterRequest{ContainerId: containerID, PodInterface: podIf})
	return err
}

func (d *daemonConn) probes() ([]*podintv1.Probe, error) {
	resp, err := d.client.ListProbes(d.ctx, &podintv1.ListProbesRequest{})
	return resp.GetProbes(), err
}

// withDaemon dials the daemon and runs fn with it.
func withDaemon(socket string, fn func(*daemonConn) error) error {
	d, err := dialDaemon(socket)
	if err != nil {
		return err
	}
	defer d.Close()
	return fn(d)
}

// daemonUnreachable tells a daemon that is down or not answering (a
// transient condition: CNI code 11) from one that answered with an error.
func daemonUnreachable(err error) bool {
	if errors.Is(err, errDaemonDown) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		return true
	}
	return false
}
