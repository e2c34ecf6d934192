package api

import (
	"bufio"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Access decides who may use the API: root, and the members of one group.
// The socket's mode already keeps others out; checking the peer's
// credentials as well holds when the socket is handed over by systemd or
// its mode is changed by hand.
type Access struct {
	Group int // gid whose members are allowed; -1 for root only
}

// Allows reports whether the process with cred may use the API.
func (a Access) Allows(cred *unix.Ucred) bool {
	if cred.Uid == 0 || int(cred.Uid) == os.Geteuid() {
		return true
	}
	if a.Group < 0 {
		return false
	}
	if int(cred.Gid) == a.Group {
		return true
	}
	for _, g := range supplementaryGroups(int(cred.Pid)) {
		if g == a.Group {
			return true
		}
	}
	return false
}

// supplementaryGroups reads the groups of process pid; none when it cannot
// be read (a process in another pid namespace shows as pid 0).
func supplementaryGroups(pid int) []int {
	if pid <= 0 {
		return nil
	}
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "Groups:")
		if !ok {
			continue
		}
		var gs []int
		for _, field := range strings.Fields(rest) {
			if g, err := strconv.Atoi(field); err == nil {
				gs = append(gs, g)
			}
		}
		return gs
	}
	return nil
}

// PeerCredentials wraps a unix socket listener so that connections from
// processes access does not allow are closed before any RPC is read.
func PeerCredentials(l net.Listener, access Access, log *slog.Logger) net.Listener {
	return &peerListener{Listener: l, access: access, log: log}
}

type peerListener struct {
	net.Listener
	access Access
	log    *slog.Logger
	warned sync.Map // uid -> struct{}: each refused uid is logged once
}

func (l *peerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		cred, err := peerCred(c)
		if err == nil && l.access.Allows(cred) {
			return c, nil
		}
		if err != nil {
			l.log.Warn("API connection refused: peer credentials unreadable", "err", err)
		} else if _, seen := l.warned.LoadOrStore(cred.Uid, struct{}{}); !seen {
			l.log.Warn("API connection refused: only root and the --api-group may use the API (logged once per uid)",
				"uid", cred.Uid, "gid", cred.Gid, "pid", cred.Pid)
		}
		c.Close()
	}
}

func peerCred(c net.Conn) (*unix.Ucred, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return nil, fmt.Errorf("connection of type %T is not a unix socket", c)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var serr error
	err = raw.Control(func(fd uintptr) {
		cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	if err != nil {
		return nil, err
	}
	if serr != nil {
		return nil, fmt.Errorf("SO_PEERCRED: %w", serr)
	}
	return cred, nil
}
