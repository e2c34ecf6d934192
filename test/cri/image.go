package cri

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ImageLayout is where an image puts its files and what it runs.
type ImageLayout struct {
	Files      map[string]string // binary name → path in the image
	Entrypoint []string
	Env        []string
}

// PodintLayout is the layout of the Dockerfile's image (TestOfflineImage
// MatchesTheDockerfile keeps the two equal): the binaries on PATH, the plugin
// where podint-install copies it from, podintd as the entrypoint. PATH is
// what distroless/static, the Dockerfile's base, sets; FROM scratch has none.
var PodintLayout = ImageLayout{
	Files: map[string]string{
		"podintd":          "/usr/local/bin/podintd",
		"podintctl":        "/usr/local/bin/podintctl",
		"podint-install":   "/usr/local/bin/podint-install",
		"podint-collector": "/usr/local/bin/podint-collector",
		"podint":           "/opt/podint/bin/podint",
	},
	Entrypoint: []string{"/usr/local/bin/podintd"},
	Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
}

// PauseLayout is the sandbox image's.
var PauseLayout = ImageLayout{
	Files:      map[string]string{"pause": "/pause"},
	Entrypoint: []string{"/pause"},
}

// Binaries builds, static and with -trimpath as the Dockerfile does, the
// binaries of podint's image and the pause binary into dir.
func Binaries(ctx context.Context, moduleRoot, dir, version string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-X main.Version="+version, "-o", dir+"/",
		"./plugin/cmd/podint", "./daemon/cmd/podintd", "./cli/cmd/podintctl", "./install/cmd/podint-install", "./collector/cmd/podint-collector", "./test/cri/pause")
	cmd.Dir = moduleRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	return nil
}

// BuildImage builds an image FROM scratch with buildah from the binaries in
// binDir, laid out as layout says, and writes it as a docker-archive named
// ref to archive. Buildah's storage is a directory of its own (workDir),
// with the vfs driver, which needs nothing from the filesystem under it;
// nothing is pulled.
func BuildImage(ctx context.Context, layout ImageLayout, binDir, workDir, ref, archive string) error {
	store := []string{"--root", filepath.Join(workDir, "storage"), "--runroot", filepath.Join(workDir, "run"), "--storage-driver", "vfs"}
	buildah := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "buildah", append(append([]string{}, store...), args...)...)
		out, err := cmd.Output()
		if err != nil {
			if ee, ok := err.(*exec.ExitError); ok {
				return "", fmt.Errorf("buildah %s: %v\n%s", strings.Join(args, " "), err, ee.Stderr)
			}
			return "", fmt.Errorf("buildah %s: %w", strings.Join(args, " "), err)
		}
		return strings.TrimSpace(string(out)), nil
	}
	ctr, err := buildah("from", "scratch")
	if err != nil {
		return err
	}
	defer buildah("rm", ctr)
	for name, dst := range layout.Files {
		if _, err := buildah("copy", "--chmod", "0755", ctr, filepath.Join(binDir, name), dst); err != nil {
			return err
		}
	}
	cfg := []string{"config", "--entrypoint", jsonArray(layout.Entrypoint), "--cmd", "",
		"--os", "linux", "--label", "org.opencontainers.image.title=" + ref}
	for _, e := range layout.Env {
		cfg = append(cfg, "--env", e)
	}
	if _, err := buildah(append(cfg, ctr)...); err != nil {
		return err
	}
	os.Remove(archive)
	_, err = buildah("commit", "--rm", "--format", "docker", ctr, "docker-archive:"+archive+":"+ref)
	return err
}

func jsonArray(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return "[" + strings.Join(q, ",") + "]"
}
