package bpf

import (
	"reflect"
	"testing"

	"github.com/podint/podint/bpf/attach"
)

// attach.PodPortKey is written by the plugin without the generated
// bindings: it must stay the generated struct pod_port_key, field by field.
func TestPodPortKeyMatchesTheCHeader(t *testing.T) {
	gen, mine := reflect.TypeOf(probePodPortKey{}), reflect.TypeOf(attach.PodPortKey{})
	if gen.Size() != mine.Size() || gen.NumField() != mine.NumField() {
		t.Fatalf("attach.PodPortKey is %d bytes in %d fields, struct pod_port_key %d in %d", mine.Size(), mine.NumField(), gen.Size(), gen.NumField())
	}
	for i := range gen.NumField() {
		g, m := gen.Field(i), mine.Field(i)
		if g.Offset != m.Offset || g.Type.Size() != m.Type.Size() || g.Name != m.Name || g.Type != m.Type {
			t.Errorf("field %d: generated %s (%v at %d), attach.PodPortKey %s (%v at %d)", i, g.Name, g.Type, g.Offset, m.Name, m.Type, m.Offset)
		}
	}
}
