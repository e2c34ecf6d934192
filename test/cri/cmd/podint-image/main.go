// Command podint-image builds podint's image offline, FROM scratch with
// buildah, from binaries built here: the Dockerfile's layout (the
// Dockerfile's golang and distroless stages need a registry). It also
// builds the sandbox (pause) image the node tests run pods on.
//
//	go run ./test/cri/cmd/podint-image --out bin/images --tag ghcr.io/podint/podint:dev
//	ctr -n k8s.io images import bin/images/podint.tar
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/podint/podint/test/cri"
	"github.com/podint/podint/test/harness"
)

func main() {
	out := flag.String("out", "bin/images", "directory for the image archives (docker-archive)")
	tag := flag.String("tag", "ghcr.io/podint/podint:dev", "the podint image's name")
	version := flag.String("version", "dev", "the version the binaries report")
	flag.Parse()
	if err := run(*out, *tag, *version); err != nil {
		fmt.Fprintln(os.Stderr, "podint-image:", err)
		os.Exit(1)
	}
}

func run(out, tag, version string) error {
	ctx := context.Background()
	root, err := harness.ModuleRoot()
	if err != nil {
		return err
	}
	if out, err = filepath.Abs(out); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "podint-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	bin := filepath.Join(work, "bin")
	if err := cri.Binaries(ctx, root, bin, version); err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, im := range []struct {
		layout    cri.ImageLayout
		ref, file string
	}{
		{cri.PodintLayout, tag, "podint.tar"},
		{cri.PauseLayout, cri.SandboxImage, "pause.tar"},
	} {
		archive := filepath.Join(out, im.file)
		if err := cri.BuildImage(ctx, im.layout, bin, filepath.Join(work, "buildah"), im.ref, archive); err != nil {
			return err
		}
		fmt.Printf("%s: %s\n", im.ref, archive)
	}
	return nil
}
