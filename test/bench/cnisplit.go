package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Where a CNI call's time goes. The plugin logs, per ADD, how long it took
// to find the host veth, attach and register, and per DEL, to detach and
// unregister (logFile in its conf); what is left of the figure above is
// process start: exec and package init, measured here by running the
// binaries with CNI_COMMAND=VERSION next to host-local and an empty Go
// program (as alike as can be: all built -trimpath -ldflags=-s -w).

// execRuns is how many times each binary is started, interleaved.
const execRuns = 20

// pluginSplit reads the timings the plugin logged, of probes without and
// with a pod side (pod_side in each line) apart.
func pluginSplit(logPath string) ([]row, error) {
	f, err := os.Open(logPath)
	if err != nil {
		return nil, fmt.Errorf("read the plugin's log: %w", err)
	}
	defer f.Close()
	parts := map[bool]map[string][]float64{false: {}, true: {}}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, `msg="probe attached and registered"`) && !strings.Contains(line, `msg="probe removed and unregistered"`) {
			continue
		}
		podSide := strings.Contains(line, " pod_side=true")
		for _, field := range strings.Fields(line) {
			k, v, ok := strings.Cut(field, "=")
			if !ok {
				continue
			}
			switch k {
			case "find_veth", "attach", "register", "detach", "unregister":
				if d, err := time.ParseDuration(v); err == nil {
					parts[podSide][k] = append(parts[podSide][k], float64(d)/1e6)
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	var rows []row
	for _, p := range []struct {
		key, name string
		podSide   bool
	}{
		{"find_veth", "ADD: find the host veth p50", false}, {"attach", "ADD: attach (TCX, both hooks) p50", false},
		{"attach", "ADD: attach, pod side on (both hooks + pod side) p50", true},
		{"register", "ADD: register with podintd p50", false}, {"detach", "DEL: detach p50", false},
		{"detach", "DEL: detach, pod side on p50", true}, {"unregister", "DEL: unregister p50", false},
	} {
		xs := parts[p.podSide][p.key]
		if len(xs) == 0 {
			return nil, fmt.Errorf("the plugin logged no %s time with pod_side=%v in %s", p.key, p.podSide, logPath)
		}
		r := row{name: p.name, with: ms(percentile(xs, 50)), figure: "inside podint"}
		if off := parts[false][p.key]; p.podSide && len(off) > 0 {
			r.figure = fmt.Sprintf("inside podint, %+.2f ms over pod side off", percentile(xs, 50)-percentile(off, 50))
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// measureExec starts podint, host-local and an empty Go program execRuns
// times each and reports the medians, and podint's package init time
// (GODEBUG=inittrace=1).
func measureExec(ctx context.Context, b *bench) ([]row, error) {
	empty, err := buildEmptyProgram(ctx)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(filepath.Dir(empty))
	bins := []string{filepath.Join(b.binDir, "podint"), filepath.Join(b.binDir, "host-local"), empty}
	times := map[string][]float64{}
	var inits, initKB []float64
	for range execRuns {
		for _, bin := range bins {
			t := time.Now()
			if _, err := runVersion(ctx, bin, false); err != nil {
				return nil, err
			}
			times[bin] = append(times[bin], float64(time.Since(t))/1e6)
		}
		trace, err := runVersion(ctx, bins[0], true)
		if err != nil {
			return nil, err
		}
		msec, kb := initCost(trace)
		inits, initKB = append(inits, msec), append(initKB, kb)
	}
	podint, hostLocal, goEmpty := percentile(times[bins[0]], 50), percentile(times[bins[1]], 50), percentile(times[bins[2]], 50)
	size := func(path string) string {
		st, err := os.Stat(path)
		if err != nil {
			return "?"
		}
		return fmt.Sprintf("%.1f MB", float64(st.Size())/1e6)
	}
	r := row{name: "exec podint VERSION p50 (without: host-local)", with: ms(podint), without: ms(hostLocal),
		figure: fmt.Sprintf("%+.1f ms; empty Go program %.1f ms", podint-hostLocal, goEmpty), goal: "≤ host-local", verdict: atMost(podint-hostLocal, 0)}
	initRow := row{name: "podint package init, sum p50 (inittrace)", with: ms(percentile(inits, 50)),
		figure: fmt.Sprintf("%.0f KB allocated", percentile(initKB, 50)), goal: "≤ 1 ms", verdict: atMost(percentile(inits, 50), 1)}
	sizeRow := row{name: "binary size (without: host-local)", with: size(bins[0]), without: size(bins[1])}
	return []row{r, initRow, sizeRow}, nil
}

// runVersion runs bin as a runtime asking for its CNI versions would;
// with trace, it returns the inittrace lines the Go runtime prints.
func runVersion(ctx context.Context, bin string, trace bool) ([]byte, error) {
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = []string{"CNI_COMMAND=VERSION"}
	if trace {
		cmd.Env = append(cmd.Env, "GODEBUG=inittrace=1")
	}
	var stderr bytes.Buffer
	cmd.Stdin, cmd.Stderr = strings.NewReader(`{"cniVersion":"1.0.0"}`), &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s VERSION: %w: %s", filepath.Base(bin), err, stderr.Bytes())
	}
	return stderr.Bytes(), nil
}

// initCost sums the clock times and the bytes allocated of the lines
// "init <pkg> @x ms, y ms clock, z bytes, n allocs": the bytes do not
// depend on the machine's load, the time does.
func initCost(trace []byte) (msec, kb float64) {
	for _, line := range strings.Split(string(trace), "\n") {
		f := strings.Fields(line)
		if len(f) >= 9 && f[0] == "init" && f[6] == "clock," {
			v, _ := strconv.ParseFloat(f[4], 64)
			b, _ := strconv.ParseFloat(f[7], 64)
			msec, kb = msec+v, kb+b/1000
		}
	}
	return msec, kb
}

// buildEmptyProgram builds a Go program that does nothing: the floor of
// any Go binary's start on this machine.
func buildEmptyProgram(ctx context.Context) (string, error) {
	dir, err := os.MkdirTemp("", "podint-bench-empty-")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o600); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module empty\n\ngo 1.22\n"), 0o600); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "empty")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build an empty Go program: %w: %s", err, out)
	}
	return bin, nil
}
