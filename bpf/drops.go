package bpf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf/link"
)

// dropsLinkPath is where the kfree_skb tracing link is pinned, so drops are
// recorded while the daemon is away.
func dropsLinkPath(pinDir string) string { return filepath.Join(pinDir, "drops_link") }

// AttachDrops attaches the drop probe to the kfree_skb tracepoint. A link
// an earlier daemon pinned is replaced only once the new one is attached,
// so no drop goes unseen across a restart (for a moment both run; the
// shared per-flow rate limit keeps that from doubling reports).
func (p *Probes) AttachDrops() error {
	if p.dropsErr != nil {
		return p.dropsErr
	}
	path := dropsLinkPath(p.pinDir)
	l, err := link.AttachTracing(link.TracingOptions{Program: p.drop.PodintDrop})
	if err != nil {
		return fmt.Errorf("attach drop probe to kfree_skb (needs BTF and kernel 5.17+ for drop reasons): %w", err)
	}
	defer l.Close()
	tmp := path + "_new"
	_ = os.Remove(tmp)
	if err := l.Pin(tmp); err != nil {
		return fmt.Errorf("pin drop probe link: %w", err)
	}
	if old, err := link.LoadPinnedLink(path, nil); err == nil {
		_ = old.Unpin()
		old.Close()
	} else if !errors.Is(err, os.ErrNotExist) {
		_ = os.Remove(path)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("pin drop probe link: %w", err)
	}
	return nil
}

// DetachDrops removes the drop probe.
func DetachDrops(pinDir string) error {
	l, err := link.LoadPinnedLink(dropsLinkPath(pinDir), nil)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer l.Close()
	return l.Unpin()
}
