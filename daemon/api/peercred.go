package api

import (
	"bufio"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/user"
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

// PeerCredentials wraps a unix socket listener so that every connection
// carries whether access allows its peer. A refused peer's connection is
// still served, but only with PermissionDenied errors that tell it why
// (see Serve): a closed connection would tell it nothing.
func PeerCredentials(l net.Listener, access Access, log *slog.Logger) net.Listener {
	return &peerListener{Listener: l, access: access, log: log}
}

type peerListener struct {
	net.Listener
	access Access
	log    *slog.Logger
	warned sync.Map // uid -> struct{}: each refused uid is logged once
}

// refusedConn is a connection whose peer may not use the API, and why.
type refusedConn struct {
	net.Conn
	reason string
}

func (l *peerListener) Accept() (net.Conn, error) {
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
		return &refusedConn{Conn: c, reason: "permission denied: podintd cannot read this client's credentials: " + err.Error()}, nil
	}
	if _, seen := l.warned.LoadOrStore(cred.Uid, struct{}{}); !seen {
		l.log.Warn("API connection refused: only root and the --api-group may use the API (logged once per uid)",
			"uid", cred.Uid, "gid", cred.Gid, "pid", cred.Pid)
	}
	return &refusedConn{Conn: c, reason: l.access.refusal(cred)}, nil
}

// refusal tells a refused peer who may use the API and how to get in.
func (a Access) refusal(cred *unix.Ucred) string {
	who := "root only (podintd runs without --api-group)"
	if a.Group >= 0 {
		name := strconv.Itoa(a.Group)
		if g, err := user.LookupGroupId(name); err == nil {
			name = g.Name + " (" + name + ")"
		}
		who = "root and the members of group " + name + " (--api-group)"
	}
	return fmt.Sprintf("permission denied: podintd's API accepts %s; this client runs as uid %d, gid %d: run it as root (sudo) or join the group",
		who, cred.Uid, cred.Gid)
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
