package deployments_test

import (
	"bufio"
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

// repoRoot is the main module, the Docker build context.
const repoRoot = ".."

// mains are the binaries the image carries, by the package that builds each.
var mains = map[string]string{
	"podint":           "./plugin/cmd/podint",
	"podintd":          "./daemon/cmd/podintd",
	"podintctl":        "./cli/cmd/podintctl",
	"podint-install":   "./install/cmd/podint-install",
	"podint-collector": "./collector/cmd/podint-collector",
}

// dockerInstructions returns the Dockerfile's instructions with continuation
// lines joined and comments dropped.
func dockerInstructions(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var cur strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if s, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(line)
		out = append(out, cur.String())
		cur.Reset()
	}
	return out
}

// The Dockerfile builds exactly the five binaries, copies only what it built,
// and its build context holds what the build needs.
func TestDockerfile(t *testing.T) {
	var built []string
	var copied []string
	for _, ins := range dockerInstructions(t) {
		fields := strings.Fields(ins)
		switch {
		case strings.HasPrefix(ins, "RUN ") && strings.Contains(ins, "go build"):
			if !strings.Contains(ins, "-trimpath") {
				t.Errorf("go build without -trimpath: %s", ins)
			}
			for _, f := range fields {
				if strings.HasPrefix(f, "./") {
					built = append(built, f)
				}
			}
		case fields[0] == "COPY" && strings.HasPrefix(fields[1], "--from=build"):
			srcs, dst := fields[2:len(fields)-1], fields[len(fields)-1]
			for _, s := range srcs {
				if path.Dir(s) != "/out" {
					t.Errorf("COPY %s: the build stage writes binaries to /out only", s)
				}
				copied = append(copied, path.Base(s))
			}
			if len(srcs) > 1 && !strings.HasSuffix(dst, "/") {
				t.Errorf("COPY of %d files to %s: a destination for several files must end in /", len(srcs), dst)
			}
			if slices.Contains(srcs, "/out/podint") && dst != "/opt/podint/bin/podint" {
				t.Errorf("the plugin goes to %s; podint-install's --plugin-binary default and the manifests expect /opt/podint/bin/podint", dst)
			}
		case fields[0] == "COPY":
			for _, s := range fields[1 : len(fields)-1] {
				if _, err := os.Stat(filepath.Join(repoRoot, s)); err != nil {
					t.Errorf("COPY %s: not in the build context: %v", s, err)
				}
				if ignored(t, s) {
					t.Errorf("COPY %s: excluded by .dockerignore", s)
				}
			}
		case strings.HasPrefix(ins, "ENV CGO_ENABLED="):
			if ins != "ENV CGO_ENABLED=0" {
				t.Errorf("%s: the binaries must be static", ins)
			}
		}
	}
	var want []string
	for _, p := range mains {
		want = append(want, p)
		if ignored(t, strings.TrimPrefix(p, "./")) {
			t.Errorf("%s is excluded from the build context by .dockerignore", p)
		}
	}
	slices.Sort(built)
	slices.Sort(want)
	if !slices.Equal(built, want) {
		t.Errorf("the Dockerfile builds %v, want %v", built, want)
	}
	for name := range mains {
		if !slices.Contains(copied, name) {
			t.Errorf("the runtime image lacks %s", name)
		}
	}
	for _, p := range []string{"go.mod", "go.sum", "bpf", "proto"} {
		if ignored(t, p) {
			t.Errorf(".dockerignore excludes %s, which the build needs", p)
		}
	}
}

// ignored reports whether .dockerignore excludes p (a slash path relative to
// the context) or a directory above it. It knows the pattern forms the file
// uses: a name or glob from the root, and **/name anywhere.
func ignored(t *testing.T, p string) bool {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	p = path.Clean(p)
	for _, pat := range strings.Split(string(data), "\n") {
		pat = strings.TrimSpace(pat)
		if pat == "" || strings.HasPrefix(pat, "#") {
			continue
		}
		if strings.HasPrefix(pat, "!") {
			t.Fatalf(".dockerignore pattern %q: exceptions are not understood by this test", pat)
		}
		rest, anywhere := strings.CutPrefix(pat, "**/")
		parts := strings.Split(p, "/")
		for i := range parts {
			if ok, _ := path.Match(rest, path.Join(parts[:i+1]...)); ok {
				return true
			}
			if ok, _ := path.Match(rest, parts[i]); ok && anywhere {
				return true
			}
		}
	}
	return false
}

var (
	buildOnce sync.Once
	binaries  map[string]string // name → path of the built binary
	buildErrs map[string]string // name → why it did not build
	missing   map[string]bool   // names whose main package does not exist yet
	buildDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// builtBinaries builds, once, every main package that exists, the way the
// Dockerfile does; one at a time, so one that does not build does not hide
// the others.
func builtBinaries(t *testing.T) map[string]string {
	t.Helper()
	buildOnce.Do(func() {
		binaries, buildErrs, missing = map[string]string{}, map[string]string{}, map[string]bool{}
		out, err := os.MkdirTemp("", "podint-image-")
		if err != nil {
			t.Fatal(err)
		}
		buildDir = out
		for name, pkg := range mains {
			if src, _ := filepath.Glob(filepath.Join(repoRoot, pkg, "*.go")); len(src) == 0 {
				missing[name] = true
				continue
			}
			args := []string{"build", "-trimpath", "-o", filepath.Join(out, name), pkg}
			cmd := exec.Command("go", args...)
			cmd.Dir = repoRoot
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off")
			if b, err := cmd.CombinedOutput(); err != nil {
				buildErrs[name] = "CGO_ENABLED=0 go " + strings.Join(args, " ") + ": " + err.Error() + "\n" + string(b)
				continue
			}
			binaries[name] = filepath.Join(out, name)
		}
	})
	return binaries
}

// Each binary builds with CGO_ENABLED=0 into a static executable: the plugin
// must run on any host, and the image has no libc.
func TestBinariesBuildStatic(t *testing.T) {
	bins := builtBinaries(t)
	for name, pkg := range mains {
		t.Run(name, func(t *testing.T) {
			if missing[name] {
				t.Skipf("%s has no main package yet; this test builds it once it exists", pkg)
			}
			if e, ok := buildErrs[name]; ok {
				t.Fatal(e)
			}
			f, err := elf.Open(bins[name])
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					t.Fatalf("%s is dynamically linked; build it with CGO_ENABLED=0", name)
				}
			}
		})
	}
}

// Every flag the manifests pass is one the binary knows: each container's
// command and args are run with --help, which cobra answers only after
// parsing every flag.
func TestManifestFlagsExist(t *testing.T) {
	bins := builtBinaries(t)
	for variant, values := range map[string]map[string]any{
		"defaults":     nil,
		"uninstall":    {"uninstall": true},
		"readByMultus": {"cni": map[string]any{"readByMultus": true}},
	} {
		pod := find[appsv1.DaemonSet](t, renderChart(t, values)).Spec.Template.Spec
		for _, c := range append(slices.Clone(pod.InitContainers), pod.Containers...) {
			if len(c.Command) == 0 {
				continue
			}
			name := c.Command[0]
			if _, ours := mains[name]; !ours {
				continue // the pause image
			}
			t.Run(variant+"/"+c.Name, func(t *testing.T) {
				if missing[name] {
					t.Skipf("%s has no main package yet", mains[name])
				}
				if _, ok := buildErrs[name]; ok {
					t.Skipf("%s does not build; TestBinariesBuildStatic reports why", name)
				}
				args := append(slices.Clone(c.Command[1:]), expandEnv(c.Args)...)
				cmd := exec.Command(bins[name], append(args, "--help")...)
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Errorf("%s %s --help: %v\n%s", name, strings.Join(args, " "), err, out)
				}
			})
		}
	}
}

var envRef = regexp.MustCompile(`\$\(([A-Z_]+)\)`)

// expandEnv stands in for the kubelet's $(VAR) expansion with plausible values.
func expandEnv(args []string) []string {
	values := map[string]string{"NODE_IP": "192.0.2.10", "NODE_NAME": "worker-1"}
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = envRef.ReplaceAllStringFunc(a, func(m string) string { return values[envRef.FindStringSubmatch(m)[1]] })
	}
	return out
}

// Every binary answers --version with the version set at build time, so
// an operator can tell what a node runs.
func TestEveryBinaryHasVersion(t *testing.T) {
	bins := builtBinaries(t)
	for name := range mains {
		t.Run(name, func(t *testing.T) {
			if missing[name] {
				t.Skipf("%s has no main package yet", mains[name])
			}
			if _, ok := buildErrs[name]; ok {
				t.Skipf("%s does not build; TestBinariesBuildStatic reports why", name)
			}
			out, err := exec.Command(bins[name], "--version").CombinedOutput()
			if err != nil || !strings.Contains(string(out), "dev") {
				t.Errorf("%s --version: %v %q; want the version (dev in this build)", name, err, out)
			}
		})
	}
}
