package e2e

import (
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/podint/podint/bpf/attach"
	"github.com/podint/podint/bpf/pins"
	"github.com/podint/podint/plugin"
	"github.com/podint/podint/test/harness"
)

// With the daemon stopped after it pinned the programs, ADD still attaches
// the probe and leaves the registration for the daemon; CHECK says "try
// again later"; STATUS (failPolicy ignore) is fine; DEL cleans up.
func TestAddWhileTheDaemonIsDown(t *testing.T) {
	for _, mode := range []attach.Mode{attach.TCX, attach.TC} {
		t.Run(string(mode), func(t *testing.T) {
			n := startNode(t, harness.NodeConfig{PodintConf: map[string]any{"attachMode": mode}})
			ctx := testContext(t)
			if err := n.StopDaemon(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			p := addPod(t, n.Node, "a")
			ifindex := vethIndex(t, p)
			expectProbe(t, n.Node, p, ifindex, mode)
			if log := n.PluginLog(); !strings.Contains(log, "podintd is unreachable") || !strings.Contains(log, "not blocked") {
				t.Errorf("plugin stderr does not say the daemon is down and the pod goes on:\n%s", log)
			}
			if b, err := os.ReadFile(pendingPath(n.Node, p)); err != nil || !strings.Contains(string(b), p.UID) ||
				!strings.Contains(string(b), `"attachMode":"`+string(mode)+`"`) {
				t.Errorf("pending registration: %v %s, want the pod's, in mode %s", err, b, mode)
			}
			if err := n.CNICheck(ctx, p); cniErrCode(err) != types.ErrTryAgainLater {
				t.Errorf("CHECK with the daemon down: %v (code %d), want code 11", err, cniErrCode(err))
			}
			if err := n.CNIStatus(ctx); err != nil {
				t.Errorf("STATUS with failPolicy ignore and the daemon down: %v", err)
			}
			if err := n.CNIDel(ctx, p); err != nil {
				t.Fatalf("DEL with the daemon down: %v", err)
			}
			expectNoProbe(t, n.Node, p, 0)
		})
	}
}

// A node whose daemon never ran has no programs to attach: pods are
// created all the same, and the plugin says why there is no probe.
func TestAddOnANodeThatNeverRanTheDaemon(t *testing.T) {
	n := newIdleNode(t, harness.NodeConfig{})
	ctx := testContext(t)
	p := addPod(t, n, "a")
	if !strings.Contains(n.PluginLog(), "is podintd running") {
		t.Errorf("plugin stderr does not say why there is no probe:\n%s", n.PluginLog())
	}
	expectNoProbe(t, n, p, vethIndex(t, p))
	if err := n.CNICheck(ctx, p); cniErrCode(err) != plugin.ErrNoProbe {
		t.Errorf("CHECK without a probe: %v, want code %d", err, plugin.ErrNoProbe)
	}
	if err := n.CNIDel(ctx, p); err != nil {
		t.Errorf("DEL: %v", err)
	}
}

// failPolicy fail: with the daemon down ADD fails with "try again later"
// and leaves nothing, STATUS reports the plugin unavailable, DEL (which the
// runtime sends after a failed ADD) succeeds; with the daemon back all is well.
func TestFailPolicyFailWithTheDaemonDown(t *testing.T) {
	n := startNode(t, harness.NodeConfig{PodintConf: map[string]any{"failPolicy": "fail"}})
	ctx := testContext(t)
	if err := n.StopDaemon(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := n.CNIStatus(ctx); cniErrCode(err) != types.ErrPluginNotAvailable {
		t.Errorf("STATUS: %v (code %d), want code 50", err, cniErrCode(err))
	}
	p, err := n.NewPod("a")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.DelPod(ctx, p) })
	err = n.CNIAdd(ctx, p)
	if cniErrCode(err) != types.ErrTryAgainLater || !strings.Contains(err.Error(), "cannot register the probe with podintd") {
		t.Fatalf("ADD: %v (code %d), want code 11 saying podintd cannot be reached", err, cniErrCode(err))
	}
	expectNoProbe(t, n.Node, p, 0)
	if err := n.CNIDel(ctx, p); err != nil {
		t.Errorf("DEL after the failed ADD: %v", err)
	}

	if err := n.StartDaemon(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.CNIStatus(ctx); err != nil {
		t.Errorf("STATUS with the daemon back: %v", err)
	}
	if err := n.CNIAdd(ctx, p); err != nil {
		t.Fatalf("ADD with the daemon back: %v", err)
	}
	expectProbe(t, n.Node, p, vethIndex(t, p), attach.TCX)
}

// DEL succeeds and leaves nothing whatever went before it, in both modes.
func TestDelSucceedsWhateverIsAlreadyGone(t *testing.T) {
	for _, mode := range []attach.Mode{attach.TCX, attach.TC} {
		t.Run(string(mode), func(t *testing.T) {
			n := startNode(t, harness.NodeConfig{PodintConf: map[string]any{"attachMode": mode}})
			ctx := testContext(t)
			for _, tc := range []struct {
				name   string
				damage func(p *harness.Pod)
			}{
				{"nothing", func(*harness.Pod) {}},
				{"netns gone", func(p *harness.Pod) { p.NS.Delete() }},
				{"veth gone", func(p *harness.Pod) {
					v, _ := p.HostVeth()
					if err := n.DeleteLink(v.Attrs().Name); err != nil {
						t.Fatal(err)
					}
				}},
				{"pins gone", func(p *harness.Pod) { os.RemoveAll(pins.LinkDir(n.Paths.PinDir, podProbeID(p))) }},
				{"half-done ADD", func(p *harness.Pod) {
					// As if ADD died after the ingress hook.
					ents, _ := os.ReadDir(pins.LinkDir(n.Paths.PinDir, podProbeID(p)))
					for _, e := range ents {
						if strings.HasSuffix(e.Name(), "egress") {
							os.Remove(pins.LinkDir(n.Paths.PinDir, podProbeID(p)) + "/" + e.Name())
						}
					}
				}},
			} {
				p := addPod(t, n.Node, "d")
				ifindex := vethIndex(t, p)
				expectProbe(t, n.Node, p, ifindex, mode)
				tc.damage(p)
				for i := 0; i < 2; i++ {
					if err := n.CNIDel(ctx, p); err != nil {
						t.Errorf("%s: DEL #%d: %v", tc.name, i+1, err)
					}
				}
				expectNoProbe(t, n.Node, p, 0)
				if reg := registration(t, ctx, n.Node, p); reg != nil {
					t.Errorf("%s: registration remains: %v", tc.name, reg)
				}
				p.NS.Delete()
			}

			// The daemon gone, and a config edited since ADD into one that
			// no longer validates: still DEL succeeds and removes the probe.
			p := addPod(t, n.Node, "e")
			ifindex := vethIndex(t, p)
			if err := n.StopDaemon(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			conf := podintConf(n.Node, "1.1.0", `,"failPolicy":"sometimes"`, nil)
			out, err := n.ExecPlugin(ctx, "podint", p.PodintCall("DEL", conf))
			if err != nil || out.ExitCode != 0 {
				t.Errorf("DEL with the daemon down and an invalid config: %v, exit %d: %s", err, out.ExitCode, out.Stdout)
			}
			expectNoProbe(t, n.Node, p, ifindex)
		})
	}
}
