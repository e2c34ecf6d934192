package cri

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// capBits are the capabilities podint's chart names, by number.
var capBits = map[string]uint{
	"CHOWN": 0, "DAC_OVERRIDE": 1, "FOWNER": 3, "NET_ADMIN": 12, "SYS_ADMIN": 21,
	"SYS_RESOURCE": 24, "PERFMON": 38, "BPF": 39,
}

// boundingSet is this process's capability bounding set: no container the
// runtime starts can hold a capability outside it. Some VMs run everything
// without CAP_SYS_RESOURCE (which is also why podman fails there at
// setrlimit); runc then refuses a container that asks for it.
func boundingSet() (uint64, bool) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapBnd:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// grantable splits caps into those the node can grant and those outside
// its bounding set.
func grantable(caps []string) (ok, missing []string) {
	bnd, known := boundingSet()
	for _, c := range caps {
		bit, named := capBits[strings.TrimPrefix(strings.ToUpper(c), "CAP_")]
		if known && named && bnd&(1<<bit) == 0 {
			missing = append(missing, c)
			continue
		}
		ok = append(ok, c)
	}
	return ok, missing
}
