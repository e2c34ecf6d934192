package daemon

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	sd "github.com/coreos/go-systemd/v22/daemon"

	"github.com/podint/podint/daemon/api"
)

// listen returns the API listener: the unix socket systemd passed
// (podintd.socket), or one podintd opens under its instance root. Either
// way only root and --api-group may use it.
func (d *Daemon) listen() (net.Listener, error) {
	group := -1
	if d.cfg.APIGroup != "" {
		gid, err := d.cfg.APIGroupID()
		if err != nil {
			return nil, fmt.Errorf("api-group: %w", err)
		}
		group = int(gid)
	}
	access := api.Access{Group: group}
	log := d.log.With("component", "api")
	passed, err := activation.Listeners()
	if err != nil {
		return nil, fmt.Errorf("sockets passed by systemd: %w", err)
	}
	for _, l := range passed {
		if l != nil && l.Addr().Network() == "unix" {
			d.log.Info("API socket passed by systemd", "socket", l.Addr().String())
			return api.PeerCredentials(l, access, log), nil
		}
	}
	if len(passed) > 0 {
		return nil, fmt.Errorf("systemd passed %d sockets but no unix stream socket; fix ListenStream= in podintd.socket", len(passed))
	}
	l, err := api.Listen(d.paths.Socket, group)
	if err != nil {
		return nil, err
	}
	return api.PeerCredentials(l, access, log), nil
}

// notifySystemd tells systemd (Type=notify) the daemon is ready, keeps its
// watchdog fed while the daemon is healthy, and says when it stops. Outside
// systemd it does nothing but wait.
func (d *Daemon) notifySystemd(ctx context.Context) error {
	_, _ = sd.SdNotify(false, sd.SdNotifyReady)
	defer sd.SdNotify(false, sd.SdNotifyStopping)
	interval, err := sd.SdWatchdogEnabled(false)
	if err != nil || interval <= 0 {
		<-ctx.Done()
		return nil
	}
	// Twice per interval, as systemd recommends; a daemon that is not
	// healthy stops feeding it and systemd restarts it.
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if h := d.Health(); h.GetOk() {
				_, _ = sd.SdNotify(false, sd.SdNotifyWatchdog)
			} else {
				d.log.Warn("not feeding the systemd watchdog: unhealthy", "problems", h.GetProblems())
			}
		}
	}
}
