package attach

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/podint/podint/bpf/attach/internal/bpfsys"
	"github.com/podint/podint/bpf/pins"
)

// tcxJob is one TCX link to attach and pin: a hook of the host veth, in the
// caller's network namespace, or of the pod's interface, in the pod's.
type tcxJob struct {
	netns   *os.File // the namespace the interface is in
	ifindex int
	hook    pins.Hook
	prog    *bpfsys.FD
	pin     string // where the link is pinned
	what    string // for errors: "ingress probe", "pod-side probe pod_ingress", ...
}

// attachTCXJobs attaches every job at once, each from an OS thread of its
// own moved into the job's network namespace, and waits for all. The
// kernel creates TCX links under RTNL, one after the other however they
// are issued: what runs side by side is the rest (issue 15, through
// cilium/ebpf then: three links at attachPosition first, 3.9 ms at once
// against 4.3 ms one after the other, p50 of 30 each, load 5-7; through
// bpfsys, two links take 1.1-1.5 ms in all, docs/performance.md round
// five). On a kernel without TCX the error wraps bpfsys.ErrNoTCX.
func attachTCXJobs(jobs []tcxJob, pos Position) error {
	var wg sync.WaitGroup
	errs := make([]error, len(jobs))
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = j.run(pos)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (j tcxJob) run(pos Position) error {
	// The thread is never unlocked: moved into a namespace, it must not run
	// other goroutines, and ends with this one.
	runtime.LockOSThread()
	if err := unix.Setns(int(j.netns.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("enter network namespace %s to attach the %s: %w", j.netns.Name(), j.what, err)
	}
	l, err := attachTCXLink(j.prog, j.ifindex, j.hook.IsEgress(), pos == Last)
	if err != nil {
		return fmt.Errorf("attach %s to ifindex %d with TCX: %w", j.what, j.ifindex, err)
	}
	err = l.Pin(j.pin)
	// The pin keeps the link; this process's descriptor is not needed.
	l.Close()
	if err != nil {
		return fmt.Errorf("pin the link of the %s: %w", j.what, err)
	}
	return nil
}

// hostTCXJobs are the jobs of both directions of ifindex, in the caller's
// network namespace (callerNS).
func hostTCXJobs(progs programs, dir string, ifindex int, callerNS *os.File) []tcxJob {
	var jobs []tcxJob
	for _, h := range pins.HostHooks() {
		jobs = append(jobs, tcxJob{netns: callerNS, ifindex: ifindex, hook: h, prog: progs[h],
			pin: filepath.Join(dir, string(h)), what: string(h) + " probe"})
	}
	return jobs
}

// callerNetns opens the network namespace of the calling thread.
func callerNetns() (*os.File, error) {
	f, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return nil, fmt.Errorf("open the caller's network namespace: %w", err)
	}
	return f, nil
}
