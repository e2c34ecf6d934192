package registry

import (
	"testing"

	podintv1 "github.com/podint/podint/proto/podint/v1"
)

func TestStoreSignalsChanges(t *testing.T) {
	s, err := NewStore(t.TempDir(), &podintv1.Node{Name: "n"})
	if err != nil {
		t.Fatal(err)
	}
	ch := s.Changed()
	p := &podintv1.Probe{Ifindex: 7, HostInterface: "veth7", Kind: podintv1.PortKind_PORT_KIND_POD,
		Pod: &podintv1.Pod{Namespace: "default", Name: "client", Uid: "u1", ContainerId: "c1", Interface: "eth0"}}
	if err := s.Put(p); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	default:
		t.Fatal("Put did not signal a change")
	}
	ch = s.Changed()
	if _, err := s.Delete("unknown"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
		t.Fatal("deleting an unknown probe signalled a change")
	default:
	}
	if _, err := s.Delete(ID(p)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	default:
		t.Fatal("Delete did not signal a change")
	}
}
