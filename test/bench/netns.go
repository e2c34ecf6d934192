package main

import (
	"os"

	"github.com/podint/podint/test/harness"
)

// nsFd is an open handle on a namespace, for netlink calls that move an
// interface into it.
type nsFd struct {
	f  *os.File
	fd int
}

func netlinkNsFd(ns *harness.NetNS) (*nsFd, error) {
	f, err := os.Open(ns.Path)
	if err != nil {
		return nil, err
	}
	return &nsFd{f: f, fd: int(f.Fd())}, nil
}

func (n *nsFd) close() { n.f.Close() }
