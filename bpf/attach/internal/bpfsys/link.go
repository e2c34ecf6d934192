//go:build linux && (amd64 || arm64 || riscv64 || ppc64le || loong64)

package bpfsys

import (
	"errors"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrNoTCX is a TCX attach on a kernel without TCX (before Linux 6.6).
var ErrNoTCX = errors.New("the kernel has no TCX (Linux 6.6+)")

// linkCreateAttr is bpf_attr's BPF_LINK_CREATE part with its tcx member.
type linkCreateAttr struct {
	progFD           uint32
	targetIfindex    uint32
	attachType       uint32
	flags            uint32
	relativeFD       uint32
	_                uint32
	expectedRevision uint64
}

// AttachTCX hooks prog to ifindex, in the calling thread's network
// namespace, with a TCX link: at ingress or egress, first among the
// programs there or last. The link stays while its descriptor or a pin
// holds it. On a kernel without TCX the error matches ErrNoTCX.
func AttachTCX(prog *FD, ifindex int, egress, last bool) (*FD, error) {
	a := linkCreateAttr{progFD: uint32(prog.Int()), targetIfindex: uint32(ifindex), attachType: tcxAttachType(egress),
		flags: unix.BPF_F_BEFORE} // no relative program: before all of them
	if last {
		a.flags = unix.BPF_F_AFTER
	}
	fd, err := call(unix.BPF_LINK_CREATE, "LINK_CREATE", &a)
	if err != nil {
		if errors.Is(err, unix.EINVAL) && !haveTCX(ifindex) {
			return nil, errors.Join(ErrNoTCX, err)
		}
		return nil, err
	}
	return &FD{raw: fd}, nil
}

func tcxAttachType(egress bool) uint32 {
	if egress {
		return unix.BPF_TCX_EGRESS
	}
	return unix.BPF_TCX_INGRESS
}

// progQueryAttr is bpf_attr's BPF_PROG_QUERY part, up to its count.
type progQueryAttr struct {
	targetIfindex uint32
	attachType    uint32
	queryFlags    uint32
	attachFlags   uint32
	progIDs       unsafe.Pointer
	count         uint32
	_             uint32
}

// haveTCX asks the kernel for ifindex's TCX ingress programs: a kernel
// without TCX does not know the attach type (EINVAL).
func haveTCX(ifindex int) bool {
	_, err := call(unix.BPF_PROG_QUERY, "PROG_QUERY", &progQueryAttr{targetIfindex: uint32(ifindex), attachType: unix.BPF_TCX_INGRESS})
	return !errors.Is(err, unix.EINVAL)
}

// linkUpdateAttr is bpf_attr's BPF_LINK_UPDATE part.
type linkUpdateAttr struct {
	linkFD    uint32
	newProgFD uint32
	flags     uint32
	oldProgFD uint32
}

// UpdateLink makes the link run prog instead, atomically: every packet
// meets one program or the other.
func UpdateLink(link *FD, progFD int) error {
	_, err := call(unix.BPF_LINK_UPDATE, "LINK_UPDATE", &linkUpdateAttr{linkFD: uint32(link.Int()), newProgFD: uint32(progFD)})
	return err
}

// linkDetachAttr is bpf_attr's BPF_LINK_DETACH part.
type linkDetachAttr struct{ linkFD uint32 }

// DetachLink takes the link off its hook now, pinned or not; a link whose
// interface is gone is detached already (ENOLINK).
func DetachLink(link *FD) error {
	_, err := call(unix.BPF_LINK_DETACH, "LINK_DETACH", &linkDetachAttr{linkFD: uint32(link.Int())})
	return err
}

// linkInfo is the start of struct bpf_link_info with its tcx member.
type linkInfo struct {
	typ        uint32
	id         uint32
	progID     uint32
	_          uint32
	ifindex    uint32
	attachType uint32
}

// TCXIfindex is the interface a TCX link hooks: 0 when the interface is
// gone, or when link is no TCX link.
func TCXIfindex(link *FD) (int, error) {
	var li linkInfo
	if err := info(link, &li); err != nil {
		return 0, err
	}
	if li.typ != unix.BPF_LINK_TYPE_TCX {
		return 0, nil
	}
	return int(li.ifindex), nil
}
