package plugin

import (
	"errors"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/podint/podint/bpf/attach"
)

func cniCode(err error) uint {
	var e *types.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

func TestParseConfigDefaults(t *testing.T) {
	conf, err := parseConfig([]byte(`{"cniVersion":"1.1.0","name":"n","type":"podint"}`))
	if err != nil {
		t.Fatal(err)
	}
	if conf.Root != "/" || conf.FailPolicy != FailPolicyIgnore || conf.AttachMode != attach.Auto ||
		conf.AttachPosition != attach.First || conf.LogFile != "" || !conf.withPodSide() {
		t.Errorf("defaults: %+v", conf)
	}
	if got := conf.Paths().Socket; got != "/run/podint/podint.sock" {
		t.Errorf("socket %s", got)
	}
}

func TestParseConfigErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct {
		conf string
		code uint
		key  string
	}{
		{`{"cniVersion":"1.1.0","name":"n","type":"podint","failPolicy":"maybe"}`, types.ErrInvalidNetworkConfig, "failPolicy"},
		{`{"cniVersion":"1.1.0","name":"n","type":"podint","attachMode":"xdp"}`, types.ErrInvalidNetworkConfig, "attachMode"},
		{`{"cniVersion":"1.1.0","name":"n","type":"podint","attachPosition":"middle"}`, types.ErrInvalidNetworkConfig, "attachPosition"},
		{`{"cniVersion":"1.1.0","name":"n","type":"podint","podSide":"false"}`, types.ErrInvalidNetworkConfig, "podSide"},
		{`{"cniVersion":"1.1.0","name":"n","type":"podint","podSide":0}`, types.ErrInvalidNetworkConfig, "podSide"},
		{`{"cniVersion":"1.1.0","name":"n","type":"podint","podSide":{}}`, types.ErrInvalidNetworkConfig, "podSide"},
		{`{"cniVersion":"1.1.0","name":"n","type":"podint","root":"var/podint"}`, types.ErrInvalidNetworkConfig, "root"},
		{`{"cniVersion":"1.1.0","name":"n","type":"podint","logFile":"podint.log"}`, types.ErrInvalidNetworkConfig, "logFile"},
		{`{"cniVersion":"1.1.0","name":"n","type":"podint","root":5}`, types.ErrDecodingFailure, "JSON object"},
		{`{"cniVersion":"1.0.0","name":"n","type":"podint","prevResult":{"cniVersion":"0.4.0","ips":[]}}`, types.ErrDecodingFailure, "prevResult"},
		{`{"cniVersion":"1.0.0","name":"n","type":"podint","prevResult":{"cniVersion":"1.0.0","ips":[{"address":"nonsense"}]}}`, types.ErrDecodingFailure, "prevResult"},
	} {
		_, err := parseConfig([]byte(tc.conf))
		if cniCode(err) != tc.code || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: %v (code %d), want code %d naming %q", tc.conf, err, cniCode(err), tc.code, tc.key)
		}
	}
}

func TestParseConfigPodSide(t *testing.T) {
	for _, tc := range []struct {
		key  string
		want bool
	}{{``, true}, {`,"podSide":null`, true}, {`,"podSide":true`, true}, {`,"podSide":false`, false}, {`,"podSide" : false `, false}} {
		conf, err := parseConfig([]byte(`{"cniVersion":"1.1.0","name":"n","type":"podint"` + tc.key + `}`))
		if err != nil {
			t.Fatalf("%s: %v", tc.key, err)
		}
		if got := conf.withPodSide(); got != tc.want {
			t.Errorf("%q: pod side %v, want %v", tc.key, got, tc.want)
		}
	}
	// The message says what to write instead.
	_, err := parseConfig([]byte(`{"cniVersion":"1.1.0","name":"n","type":"podint","podSide":"no"}`))
	if err == nil || !strings.Contains(err.Error(), "JSON boolean") || !strings.Contains(err.Error(), "without quotes") {
		t.Errorf("podSide \"no\": %v, want the fix named", err)
	}
}

func TestParseConfigReadsBothGCLists(t *testing.T) {
	conf, err := parseConfig([]byte(`{"cniVersion":"1.1.0","name":"n","type":"podint",
		"cni.dev/valid-attachments":[{"containerID":"a","ifname":"eth0"}],
		"cni.dev/attachments":[{"containerID":"b","ifname":"net1"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	got := conf.validAttachments()
	if len(got) != 2 || got[0].ContainerID != "a" || got[1].IfName != "net1" {
		t.Errorf("valid attachments %+v, want both lists", got)
	}
}

func TestIdentityFromCNIArgs(t *testing.T) {
	id := identity("IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=cart-7;K8S_POD_UID=u-1;K8S_POD_INFRA_CONTAINER_ID=c0ffee;OTHER=x")
	want := podIdentity{Namespace: "shop", Name: "cart-7", UID: "u-1", InfraContainerID: "c0ffee"}
	if id != want {
		t.Errorf("identity %+v, want %+v", id, want)
	}
	// Without IgnoreUnknown, unknown keys are still no reason to lose the pod.
	if id := identity("K8S_POD_NAME=a;FOO=bar"); id.Name != "a" {
		t.Errorf("identity with an unknown key: %+v", id)
	}
	if id := identity(""); id != (podIdentity{}) {
		t.Errorf("identity of no args: %+v", id)
	}
}
