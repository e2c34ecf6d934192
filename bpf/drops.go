package bpf

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf/link"

	"github.com/podint/podint/bpf/pins"
)

// AttachDrops attaches the drop probe to the kfree_skb tracepoint. A link
// an earlier daemon pinned is replaced only once the new one is attached,
// so no drop goes unseen across a restart (for a moment both run; the
// shared per-flow rate limit keeps that from doubling reports).
func (p *Collection) AttachDrops() error {
	if p.dropsErr != nil {
		return p.dropsErr
	}
	l, err := link.AttachTracing(link.TracingOptions{Program: p.drop.PodintDrop})
	if err != nil {
		return fmt.Errorf("attach drop probe to kfree_skb (needs BTF and kernel 5.17+ for drop reasons): %w", err)
	}
	defer l.Close()
	if err := pins.Replace(pins.DropsLinkPath(p.pinDir), l.Pin); err != nil {
		return fmt.Errorf("pin drop probe link: %w", err)
	}
	return nil
}

// DetachDrops removes the drop probe.
func DetachDrops(pinDir string) error {
	l, err := link.LoadPinnedLink(pins.DropsLinkPath(pinDir), nil)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer l.Close()
	return l.Unpin()
}
