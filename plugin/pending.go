package plugin

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/podint/podint/internal/instance"
	podintv1 "github.com/podint/podint/proto/podint/v1"
)

// Pending registrations: when ADD attaches a probe but cannot reach the
// daemon (failPolicy ignore), it leaves the registration it would have sent
// as <PendingDir>/<probe id>.json, for the daemon to take in when it starts.
// Only ADD's failure path writes there; DEL and GC remove the files of the
// probes they remove.

func pendingPath(p instance.Paths, probeID string) string {
	return filepath.Join(p.PendingDir, probeID+".json")
}

func savePending(p instance.Paths, probeID string, probe *podintv1.Probe) error {
	b, err := protojson.Marshal(probe)
	if err != nil {
		return fmt.Errorf("encode pending registration: %w", err)
	}
	if err := os.MkdirAll(p.PendingDir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", p.PendingDir, err)
	}
	// Written aside and renamed, so the daemon never reads half a file.
	path := pendingPath(p, probeID)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write pending registration: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write pending registration: %w", err)
	}
	return nil
}

func removePending(p instance.Paths, probeID string) error {
	err := os.Remove(pendingPath(p, probeID))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove pending registration: %w", err)
	}
	return nil
}

// pendingProbeIDs lists the probes with a pending registration.
func pendingProbeIDs(p instance.Paths) []string {
	ents, _ := os.ReadDir(p.PendingDir)
	var ids []string
	for _, e := range ents {
		if id, ok := strings.CutSuffix(e.Name(), ".json"); ok {
			ids = append(ids, id)
		}
	}
	return ids
}
