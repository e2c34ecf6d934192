package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ReferencePlugins are the containernetworking plugins the harness chains
// with podint, built from the module versions in go.mod.
var ReferencePlugins = []string{
	"github.com/containernetworking/plugins/plugins/main/bridge",
	"github.com/containernetworking/plugins/plugins/main/ptp",
	"github.com/containernetworking/plugins/plugins/main/loopback",
	"github.com/containernetworking/plugins/plugins/ipam/host-local",
	"github.com/containernetworking/plugins/plugins/meta/portmap",
	"github.com/containernetworking/plugins/plugins/meta/bandwidth",
}

// podint's binaries, by the package that builds them.
var podintBinaries = []string{
	"./plugin/cmd/podint",
	"./daemon/cmd/podintd",
	"./cli/cmd/podintctl",
	"./install/cmd/podint-install",
	"./test/cri/pause", // the sandbox image's, for the tests through a container runtime
	"./collector/cmd/podint-collector",
}

// ModuleRoot finds the podint source tree from the working directory.
func ModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the podint module; run from its source tree")
	}
	return filepath.Dir(mod), nil
}

// Build compiles podint's binaries and the reference CNI plugins into dir,
// static (CGO_ENABLED=0), trimmed and stripped as the image's are: the
// tests through a container runtime put them in images built FROM scratch,
// and the bench compares the plugins' start-up like for like.
func Build(dir string) error {
	root, err := ModuleRoot()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	args := append([]string{"build", "-trimpath", "-ldflags=-s -w", "-o", dir + "/"}, podintBinaries...)
	args = append(args, ReferencePlugins...)
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	return nil
}
