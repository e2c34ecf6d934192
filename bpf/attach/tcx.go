package attach

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/podint/podint/bpf/attach/internal/bpfsys"
	"github.com/podint/podint/bpf/pins"
)

// attachTCXLink is bpfsys.AttachTCX; tests replace it to act as a kernel
// without TCX.
var attachTCXLink = bpfsys.AttachTCX

// detachTCXLink takes the pinned link at path off its hook at once. Only
// unpinning it would leave the kernel to release it later, from deferred
// work: until then the program stays on the veth, and attaching it there
// again (a repeated ADD) fails with EEXIST.
func detachTCXLink(path string) error {
	l, err := bpfsys.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil // gone: nothing is hooked
	}
	if err != nil {
		return fmt.Errorf("open pinned link %s to detach it: %w", path, err)
	}
	defer l.Close()
	if err := bpfsys.DetachLink(l); err != nil && !errors.Is(err, unix.ENOLINK) {
		return fmt.Errorf("detach link %s: %w", path, err)
	}
	return nil
}

// linkIfindex returns the interface a probe's pinned TCX link is attached
// to, or 0 when that interface is gone.
func linkIfindex(pinDir, probeID string, h pins.Hook) (int, error) {
	return pinnedLinkIfindex(filepath.Join(pins.LinkDir(pinDir, probeID), string(h)))
}

func verifyTCX(pinDir, probeID string, ifindex int) error {
	for _, d := range pins.HostHooks() {
		idx, err := linkIfindex(pinDir, probeID, d)
		if err != nil {
			return fmt.Errorf("%s probe missing: %w", d, err)
		}
		if idx == 0 {
			return fmt.Errorf("%s probe's interface is gone", d)
		}
		if idx != ifindex {
			return fmt.Errorf("%s probe hooks ifindex %d, the pod's host interface is %d", d, idx, ifindex)
		}
	}
	return nil
}
