package install

import (
	"strings"
	"testing"
)

func TestDecidePodSide(t *testing.T) {
	for _, tc := range []struct {
		choice PodSide
		chain  []string
		on     bool
		why    string
	}{
		{PodSideAuto, []string{"bridge", "portmap", "podint"}, false, "Linux bridge"},
		{PodSideAuto, []string{"ptp"}, false, "host stack"},
		{PodSideAuto, []string{"flannel", "portmap"}, false, "delegates to the bridge plugin"},
		{PodSideAuto, []string{"podint", "bridge"}, false, "bridge"}, // podint's own entry is no primary
		{PodSideAuto, []string{"bridge", "cilium-cni"}, true, `"cilium-cni" is chained`},
		{PodSideAuto, []string{"cilium-cni"}, true, `"cilium-cni" is not one known`},
		{PodSideAuto, []string{"calico", "bandwidth"}, true, `"calico" is not one known`},
		{PodSideAuto, []string{"some-new-cni"}, true, "some-new-cni"},
		{PodSideAuto, nil, true, "auto"}, // unreadable: the safe default
		{PodSideOff, []string{"cilium-cni"}, false, "--pod-side=false"},
		{PodSideOn, []string{"bridge"}, true, "--pod-side=true"},
	} {
		c := decidePodSide(tc.choice, tc.chain)
		if c.on != tc.on || !strings.Contains(c.why, tc.why) {
			t.Errorf("%s %v: on %v (%s), want %v saying %q", tc.choice, tc.chain, c.on, c.why, tc.on, tc.why)
		}
	}
}

func TestParsePodSide(t *testing.T) {
	for in, want := range map[string]PodSide{"": PodSideAuto, "auto": PodSideAuto, "TRUE": PodSideOn, "false": PodSideOff} {
		if got, err := ParsePodSide(in); err != nil || got != want {
			t.Errorf("ParsePodSide(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParsePodSide("off"); err == nil || !strings.Contains(err.Error(), "auto") {
		t.Errorf("ParsePodSide(off): %v, want an error naming the values", err)
	}
}

func TestCheckPodSideRefusesAContradiction(t *testing.T) {
	e := mustEntry(t, `{"podSide":false}`)
	if err := CheckPodSide(PodSideOn, e); err == nil || !strings.Contains(err.Error(), "--pod-side=true") {
		t.Errorf("--pod-side=true with podSide false in the plugin config: %v, want an error", err)
	}
	if err := CheckPodSide(PodSideAuto, mustEntry(t, `{"podSide":"false"}`)); err == nil || !strings.Contains(err.Error(), "without quotes") {
		t.Errorf("a quoted podSide in the plugin config: %v, want an error (the plugin would refuse every ADD)", err)
	}
	for _, c := range []PodSide{PodSideAuto, "", PodSideOff} {
		if err := CheckPodSide(c, e); err != nil {
			t.Errorf("--pod-side=%q with podSide false in the plugin config: %v", c, err)
		}
	}
}

// A primary replaced in place (flannel's file rewritten for Calico) gets
// the entry its new type calls for: the "podSide" podint wrote goes.
func TestInsertFollowsANewPrimary(t *testing.T) {
	in := newTestInstaller(t)
	writeFile(t, in.ConfDir, "10-net.conflist", `{"name":"n","plugins":[{"type":"flannel"}]}`)
	if _, err := in.Insert(); err != nil {
		t.Fatal(err)
	}
	assertFile(t, in.ConfDir, "10-net.conflist", `{"name":"n","plugins":[{"type":"flannel"},{"type":"podint","root":"/","failPolicy":"ignore","podSide":false}]}`)
	writeFile(t, in.ConfDir, "10-net.conflist", `{"name":"n","plugins":[{"type":"calico"},{"type":"podint","root":"/","failPolicy":"ignore","podSide":false}]}`)
	if _, err := in.Insert(); err != nil {
		t.Fatal(err)
	}
	assertFile(t, in.ConfDir, "10-net.conflist", `{"name":"n","plugins":[{"type":"calico"},{"type":"podint","root":"/","failPolicy":"ignore"}]}`)
}
