// Command bench answers the operator's first question about podint: what
// do the probes cost my pods? It measures, side by side in one run, every
// path with podint against the same path without it and prints one table
// of ratios and counts (see docs/performance.md):
//
//   - BPF ns per packet per program and path (BPF_PROG_TEST_RUN, rounds of
//     at least 1M runs, net of an empty TC program); the drop tracepoint
//     through the kernel's BPF statistics while the kernel drops packets
//   - pod-to-pod TCP and 64-byte UDP throughput through the bridge (iperf3)
//   - reports per flow of a steady flow; first packets of new flows reported
//   - the daemon's lossless report rate on one core, v0.5 and v2.0
//   - CNI ADD and DEL latency of the chain with podint against without
//   - pod start and removal through containerd's CRI (RunPodSandbox,
//     Stop+RemovePodSandbox) with podint in the chain against without
//   - the daemon's memory with 500 probes and 100k flows
//   - podint-collector's lossless report rate on one core into PostgreSQL,
//     its database lag, and its memory at 100k live flows
//
// It needs root, builds its own network namespaces, bpffs mounts and nodes
// (test/harness), and removes them however it ends, Ctrl-C included. It is
// not a test: it asserts nothing about time, it prints figures and says
// which goals of issue 8 they meet. It exits non-zero only when a
// measurement could not be made.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/podint/podint/test/harness"

	"github.com/podint/podint/test/tools"
)

// plan sizes every stage; --short shrinks it so CI can run the whole
// table in about two minutes and the benchmark cannot rot.
type plan struct {
	mode          string
	testRunRounds int // rounds of each test-run path
	testRunRuns   int // runs per round
	newFlowRounds int
	newFlowRuns   int // runs per round, one per call (a new flow each)
	dropRounds    int
	dropWindow    time.Duration
	tputPairs     int // pairs of iperf3 rounds, with and without podint
	tputSeconds   int
	cpuPairs      int // pairs of fixed-rate UDP windows (tputcpu.go)
	cpuWindow     time.Duration
	steadySeconds int
	newFlows      int
	pipeStep      time.Duration
	pipeBisect    int
	cniPods       int // per chain
	runtimePods   int // per chain, through containerd
	memProbes     int
	memFlows      int
}

var fullPlan = plan{mode: "full", testRunRounds: 11, testRunRuns: 1 << 20, newFlowRounds: 5, newFlowRuns: 1 << 18,
	dropRounds: 5, dropWindow: time.Second, tputPairs: 3, tputSeconds: 3, cpuPairs: 8, cpuWindow: 1500 * time.Millisecond, steadySeconds: 20, newFlows: 10000,
	pipeStep: 2 * time.Second, pipeBisect: 4, cniPods: 100, runtimePods: 50, memProbes: 500, memFlows: 100_000}

var shortPlan = plan{mode: "short", testRunRounds: 3, testRunRuns: 1 << 20, newFlowRounds: 3, newFlowRuns: 1 << 17,
	dropRounds: 2, dropWindow: 500 * time.Millisecond, tputPairs: 1, tputSeconds: 1, cpuPairs: 2, cpuWindow: 500 * time.Millisecond, steadySeconds: 5, newFlows: 2000,
	pipeStep: 700 * time.Millisecond, pipeBisect: 1, cniPods: 20, runtimePods: 10, memProbes: 500, memFlows: 100_000}

// stage is one measurement; it adds its rows to a section.
type stage struct {
	name string
	run  func(ctx context.Context, b *bench) (section, error)
}

var stages = []stage{
	{"bpf", measureBPFCost},
	{"drop", measureDropCost},
	{"throughput", measureThroughputAndVolume},
	{"pipeline", measurePipeline},
	{"cni", measureCNILatency},
	{"runtime", measureRuntimeLatency},
	{"memory", measureMemory},
	{"collector", measureCollector},
}

// bench is what every stage shares.
type bench struct {
	plan    plan
	binDir  string
	cleanup *cleanupStack
	// pprofDir, when set, receives a CPU profile of podintd for every step
	// of the pipeline stage.
	pprofDir string
	// pipelineNoGRO: the pipeline stage's collector reads datagram by
	// datagram, the kernel segmenting on the daemon's core.
	pipelineNoGRO bool
}

// progress tells the person waiting what is running; the table goes to stdout.
func (b *bench) progress(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", a...)
}

func main() {
	short := flag.Bool("short", false, "a smaller run (about two minutes) for CI")
	binDir := flag.String("bin-dir", "", "podint binaries and reference CNI plugins (default: built into a temporary directory)")
	only := flag.String("stages", "", "comma-separated stages to run (default all: "+stageNames()+")")
	pprofDir := flag.String("pprof-dir", "", "write a CPU profile of podintd for every step of the pipeline stage into this directory (go tool pprof -top FILE)")
	noGRO := flag.Bool("pipeline-no-gro", false, "the pipeline stage's collector reads without UDP_GRO: the kernel cuts segmented sends into datagrams on the daemon's core")
	flag.Parse()
	os.Exit(run(*short, *binDir, *only, *pprofDir, *noGRO))
}

func run(short bool, binDir, only, pprofDir string, noGRO bool) int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench: needs root (network namespaces, bpffs, BPF programs, TCX)")
		return 2
	}
	if err := tools.Need(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	b := &bench{plan: fullPlan, cleanup: &cleanupStack{}, pprofDir: pprofDir, pipelineNoGRO: noGRO}
	if short {
		b.plan = shortPlan
	}
	selected, err := selectStages(only)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sigs
		fmt.Fprintln(os.Stderr, "bench: interrupted, removing what it created (again to force)")
		cancel()
		<-sigs
		b.cleanup.runAll()
		os.Exit(130)
	}()
	defer b.cleanup.runAll()

	harness.RemoveLeftovers() // namespaces of killed earlier runs
	if binDir == "" {
		dir, err := os.MkdirTemp("", "podint-bench-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		b.cleanup.push(func() { os.RemoveAll(dir) })
		b.progress("building binaries into %s", dir)
		if err := harness.Build(dir); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		binDir = dir
	}
	b.binDir = binDir

	start := time.Now()
	var sections []section
	failed := false
	for _, s := range selected {
		if ctx.Err() != nil {
			break
		}
		b.progress("stage %s", s.name)
		t := time.Now()
		sec, err := s.run(ctx, b)
		if err != nil {
			failed = true
			if sec.title == "" {
				sec.title = s.name
			}
			sec.notes = append(sec.notes, "could not be measured: "+err.Error())
		}
		b.progress("stage %s done in %s", s.name, time.Since(t).Round(time.Second))
		sections = append(sections, sec)
	}
	if ctx.Err() != nil {
		return 130
	}
	printTable(os.Stdout, machineHeader(b.plan, time.Since(start)), sections)
	if failed {
		return 1
	}
	return 0
}

func stageNames() string {
	var names []string
	for _, s := range stages {
		names = append(names, s.name)
	}
	return strings.Join(names, ",")
}

func selectStages(only string) ([]stage, error) {
	if only == "" {
		return stages, nil
	}
	var out []stage
	for _, name := range strings.Split(only, ",") {
		i := slices.IndexFunc(stages, func(s stage) bool { return s.name == strings.TrimSpace(name) })
		if i < 0 {
			return nil, fmt.Errorf("no stage %q; stages: %s", name, stageNames())
		}
		out = append(out, stages[i])
	}
	return out, nil
}

// machineHeader says what the figures were measured on: they mean nothing
// without it.
func machineHeader(p plan, took time.Duration) string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	var u unix.Utsname
	_ = unix.Uname(&u)
	iperf := "iperf3 missing"
	if out, err := exec.Command("iperf3", "--version").Output(); err == nil {
		iperf = strings.SplitN(strings.TrimSpace(string(out)), " (", 2)[0]
	}
	// The load average says how much else ran: side-by-side figures of a
	// loaded machine are noisier (see the ranges), not biased one way.
	load := "?"
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return fmt.Sprintf("podint bench (%s, %s): %s, %d CPUs, Linux %s, %s, %s, load average %s at the end, %s",
		p.mode, took.Round(time.Second), cpu, runtime.NumCPU(), unix.ByteSliceToString(u.Release[:]),
		runtime.Version(), iperf, load, time.Now().UTC().Format("2006-01-02 15:04 UTC"))
}
