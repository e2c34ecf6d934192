package registration

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Pending registrations: when ADD attaches a probe but cannot reach the
// daemon (failPolicy ignore), it leaves the registration it would have sent
// as <dir>/<probe id>.json (a protojson podint.v1.Probe), for the daemon to
// take in when it starts. Only ADD's failure path writes there; DEL, GC and
// the daemon remove the files of the probes they remove.

// PendingPath is where the pending registration of a probe is.
func PendingPath(dir, probeID string) string {
	return filepath.Join(dir, probeID+".json")
}

// SavePending leaves p for the daemon.
func SavePending(dir, probeID string, p *Probe) error {
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode pending registration: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	// Written aside and renamed, so the daemon never reads half a file.
	path := PendingPath(dir, probeID)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write pending registration: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write pending registration: %w", err)
	}
	return nil
}

// ReadPending returns the pending registration of a probe as written (the
// daemon decodes it with protojson); nil when there is none.
func ReadPending(dir, probeID string) ([]byte, error) {
	b, err := os.ReadFile(PendingPath(dir, probeID))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// RemovePending removes a probe's pending registration, if any.
func RemovePending(dir, probeID string) error {
	err := os.Remove(PendingPath(dir, probeID))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove pending registration: %w", err)
	}
	return nil
}

// PendingProbeIDs lists the probes with a pending registration.
func PendingProbeIDs(dir string) []string {
	ents, _ := os.ReadDir(dir)
	var ids []string
	for _, e := range ents {
		if id, ok := strings.CutSuffix(e.Name(), ".json"); ok {
			ids = append(ids, id)
		}
	}
	return ids
}
