package install

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// eventually polls cond until it holds; the limit is generous because it only
// bounds a failing test, it never decides a passing one.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// runningInstaller is an Installer whose Run loop works in the background.
type runningInstaller struct {
	*Installer
	mu      sync.Mutex
	handled []string // names of the events the loop has finished with
	seq     int
}

func startRun(t *testing.T, in *Installer) *runningInstaller {
	t.Helper()
	r := &runningInstaller{Installer: in}
	in.afterEvent = func(name string) {
		r.mu.Lock()
		r.handled = append(r.handled, filepath.Base(name))
		r.mu.Unlock()
	}
	started := make(chan struct{})
	in.afterStart = func() { close(started) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx, 0) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("Run ended before watching: %v", err)
	}
	return r
}

// sync returns once the loop has handled every event caused before the call.
// inotify delivers a directory's events in order, so once the loop has handled
// the creation of a new marker file, it has handled all earlier events too.
func (r *runningInstaller) sync(t *testing.T) {
	t.Helper()
	r.seq++
	marker := fmt.Sprintf("sync-%d.marker", r.seq)
	writeFile(t, r.ConfDir, marker, "")
	eventually(t, "the watch loop handled "+marker, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return slices.Contains(r.handled, marker)
	})
	if err := os.Remove(filepath.Join(r.ConfDir, marker)); err != nil {
		t.Fatal(err)
	}
}

func hasPodint(dir, name string) func() bool {
	return func() bool {
		data, err := os.ReadFile(filepath.Join(dir, name))
		return err == nil && strings.Contains(string(data), `"type":"podint"`)
	}
}

const flannelConflist = "{\n  \"name\": \"cbr0\",\n  \"cniVersion\": \"0.3.1\",\n  \"plugins\": [\n    {\"type\": \"flannel\"}\n  ]\n}\n"

func TestRunWaitsForThePrimaryConfig(t *testing.T) {
	in := newTestInstaller(t)
	r := startRun(t, in)
	eventually(t, "the plugin binary is installed", func() bool { return fileExists(filepath.Join(in.BinDir, PluginType)) })
	r.sync(t)
	if n := in.writes.Load(); n != 0 {
		t.Fatalf("%d config writes before any config exists", n)
	}

	// The primary CNI installs its config the way most do: write a temporary
	// file, then rename it into place.
	tmp := filepath.Join(in.ConfDir, "flannel.tmp")
	writeFile(t, in.ConfDir, "flannel.tmp", flannelConflist)
	if err := os.Rename(tmp, filepath.Join(in.ConfDir, "10-flannel.conflist")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "podint is chained into 10-flannel.conflist", hasPodint(in.ConfDir, "10-flannel.conflist"))
}

func TestRunChainsAgainWhenThePrimaryRewritesItsFile(t *testing.T) {
	in := newTestInstaller(t)
	writeFile(t, in.ConfDir, "10-flannel.conflist", flannelConflist)
	r := startRun(t, in)
	eventually(t, "podint is chained in", hasPodint(in.ConfDir, "10-flannel.conflist"))

	// The primary restarts and writes its file in place, without podint.
	writeFile(t, in.ConfDir, "10-flannel.conflist", flannelConflist)
	eventually(t, "podint is chained in again", hasPodint(in.ConfDir, "10-flannel.conflist"))

	// podint's own writes must not feed back into more writes.
	r.sync(t)
	if n := in.writes.Load(); n != 2 {
		t.Fatalf("%d config writes, want 2 (one per time the primary wrote its file)", n)
	}
	want := strings.Replace(flannelConflist, "{\"type\": \"flannel\"}", "{\"type\": \"flannel\"},\n    {\"type\":\"podint\",\"root\":\"/\",\"failPolicy\":\"ignore\",\"podSide\":false}", 1)
	assertFile(t, in.ConfDir, "10-flannel.conflist", want)
}

func TestRunMovesToANewActiveConfig(t *testing.T) {
	in := newTestInstaller(t)
	writeFile(t, in.ConfDir, "10-flannel.conflist", flannelConflist)
	startRun(t, in)
	eventually(t, "podint is chained into flannel", hasPodint(in.ConfDir, "10-flannel.conflist"))

	// Cilium is installed later and its file sorts first.
	writeFile(t, in.ConfDir, "05-cilium.conflist", `{"name":"cilium","plugins":[{"type":"cilium-cni"}]}`)
	eventually(t, "podint is chained into cilium", hasPodint(in.ConfDir, "05-cilium.conflist"))
}

func TestRunLeavesABrokenFileAlone(t *testing.T) {
	in := newTestInstaller(t)
	r := startRun(t, in)
	broken := "{\n  \"name\": \"cbr0\",\n  \"plugins\": [\n"
	writeFile(t, in.ConfDir, "10-flannel.conflist", broken)
	r.sync(t)
	assertFile(t, in.ConfDir, "10-flannel.conflist", broken)
	if n := in.writes.Load(); n != 0 {
		t.Fatalf("%d config writes for a broken file, want none", n)
	}

	// Once the primary finishes its file, podint chains in.
	writeFile(t, in.ConfDir, "10-flannel.conflist", flannelConflist)
	eventually(t, "podint is chained in after the file was fixed", hasPodint(in.ConfDir, "10-flannel.conflist"))
}

func TestRunFailsWhenNoConfigAppearsInTime(t *testing.T) {
	in := newTestInstaller(t)
	err := in.Run(context.Background(), time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), in.ConfDir) || !strings.Contains(err.Error(), "--cni-conf-dir") {
		t.Fatalf("Run error = %v, want one naming %s and --cni-conf-dir", err, in.ConfDir)
	}
}

func TestInstallOnceWaitsThenReturns(t *testing.T) {
	in := newTestInstaller(t)
	done := make(chan error, 1)
	go func() { done <- in.InstallOnce(context.Background(), 0) }()
	eventually(t, "the plugin binary is installed", func() bool { return fileExists(filepath.Join(in.BinDir, PluginType)) })
	writeFile(t, in.ConfDir, "10-flannel.conflist", flannelConflist)
	if err := <-done; err != nil {
		t.Fatalf("InstallOnce: %v", err)
	}
	if !hasPodint(in.ConfDir, "10-flannel.conflist")() {
		t.Fatal("InstallOnce returned without chaining podint in")
	}
}

func TestInstallOnceReportsABrokenFile(t *testing.T) {
	in := newTestInstaller(t)
	writeFile(t, in.ConfDir, "10-flannel.conflist", `{"name":`)
	err := in.InstallOnce(context.Background(), time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "10-flannel.conflist:1:9") {
		t.Fatalf("InstallOnce error = %v, want one naming 10-flannel.conflist:1:9", err)
	}
}

func TestInstallOnceTimesOut(t *testing.T) {
	in := newTestInstaller(t)
	err := in.InstallOnce(context.Background(), time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "no primary CNI config appeared") {
		t.Fatalf("InstallOnce error = %v, want a timeout naming the conf dir", err)
	}
}
