//go:build !linux

package exporter

import "net"

// writeFlags: elsewhere writes are sent one at a time without flags.
const writeFlags = 0

// setDontFragment is Linux-only; other systems keep their default.
func setDontFragment(*net.UDPConn, bool) error { return nil }

// gsoSupported: UDP segmentation offload is Linux's.
const gsoSupported = false

const segmentSizeLen = 0

func appendSegmentSize(b []byte, _ int) []byte { return b }

func gsoRefused(error) bool { return false }
