package intreport

import (
	"fmt"
	"sync"
)

// INT drop reason codes shared with DeepInsight and SD-Fabric switches, so
// that a collector names podint's drops the way it names a switch's.
const (
	DropReasonUnknown             uint8 = 0
	DropReasonIPTTLZero           uint8 = 26
	DropReasonRoutingMiss         uint8 = 29
	DropReasonIPChecksum          uint8 = 31
	DropReasonPortVLANMappingMiss uint8 = 55
	DropReasonTrafficManager      uint8 = 71 // queue full or qdisc drop
	DropReasonACLDeny             uint8 = 80
	DropReasonBridgingMiss        uint8 = 89
	FirstPodintDropReason         uint8 = 128 // codes from here up are podint's own
)

var dropReasons = struct {
	sync.RWMutex
	names map[uint8]string
}{names: map[uint8]string{
	DropReasonUnknown:             "unknown",
	DropReasonIPTTLZero:           "ip ttl zero",
	DropReasonRoutingMiss:         "routing miss",
	DropReasonIPChecksum:          "ip checksum",
	DropReasonPortVLANMappingMiss: "port vlan mapping miss",
	DropReasonTrafficManager:      "traffic manager",
	DropReasonACLDeny:             "acl deny",
	DropReasonBridgingMiss:        "bridging miss",
}}

// DropReasonName names an INT drop reason code ("acl deny"), or returns ""
// for a code nobody registered.
func DropReasonName(code uint8) string {
	dropReasons.RLock()
	defer dropReasons.RUnlock()
	return dropReasons.names[code]
}

// RegisterDropReasonName names one of podint's own drop reason codes (128
// and up), typically after the kernel drop reason it stands for, so that
// the daemon and podintctl print the same name. Codes below 128 are the
// INT standard's and cannot be renamed; registering a different name for a
// code twice is an error, since the two sides would then disagree.
func RegisterDropReasonName(code uint8, name string) error {
	if code < FirstPodintDropReason {
		return fmt.Errorf("drop reason %d: codes below %d are INT standard codes, podint's own start at %d",
			code, FirstPodintDropReason, FirstPodintDropReason)
	}
	if name == "" {
		return fmt.Errorf("drop reason %d: empty name", code)
	}
	dropReasons.Lock()
	defer dropReasons.Unlock()
	if old, ok := dropReasons.names[code]; ok && old != name {
		return fmt.Errorf("drop reason %d: already registered as %q, not renaming to %q", code, old, name)
	}
	dropReasons.names[code] = name
	return nil
}
