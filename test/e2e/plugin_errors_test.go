package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/podint/podint/test/harness"
)

// A failed call prints one CNI error, in JSON, on stdout, and nothing else
// there, and exits non-zero; the code says what kind of failure it is.
func TestPluginErrorsAreCNIJSONWithTheirCode(t *testing.T) {
	requireRoot(t)
	ctx := testContext(t)
	podint := filepath.Join(binDir, "podint")
	call := func(command, conf string) harness.PluginCall {
		return harness.PluginCall{Command: command, ContainerID: "c0ffee", Netns: "/var/run/netns/none",
			IfName: "eth0", Stdin: []byte(conf)}
	}
	noNetns := call("ADD", `{"cniVersion":"1.1.0","name":"n","type":"podint"}`)
	noNetns.Netns = ""
	for _, tc := range []struct {
		name string
		call harness.PluginCall
		code uint
		says string
	}{
		{"no prevResult", call("ADD", `{"cniVersion":"1.1.0","name":"n","type":"podint"}`),
			types.ErrInvalidNetworkConfig, "chained plugin"},
		{"config not JSON", call("ADD", `{"cniVersion":"1.1.0","name":"n",`), types.ErrDecodingFailure, ""},
		{"key of the wrong type", call("ADD", `{"cniVersion":"1.1.0","name":"n","type":"podint","failPolicy":3}`),
			types.ErrDecodingFailure, "podint entry"},
		{"prevResult that does not decode", call("ADD", `{"cniVersion":"1.1.0","name":"n","type":"podint","prevResult":{"cniVersion":"1.1.0","ips":[{"address":"x"}]}}`),
			types.ErrDecodingFailure, "prevResult"},
		{"invalid failPolicy", call("ADD", `{"cniVersion":"1.1.0","name":"n","type":"podint","failPolicy":"maybe"}`),
			types.ErrInvalidNetworkConfig, "failPolicy"},
		{"invalid attachMode", call("CHECK", `{"cniVersion":"1.1.0","name":"n","type":"podint","attachMode":"xdp"}`),
			types.ErrInvalidNetworkConfig, "attachMode"},
		{"ADD without CNI_NETNS", noNetns, types.ErrInvalidEnvironmentVariables, "CNI_NETNS"},
		{"unsupported version", call("ADD", `{"cniVersion":"2.0.0","name":"n","type":"podint"}`),
			types.ErrIncompatibleCNIVersion, ""},
		{"GC in a version without GC", call("GC", `{"cniVersion":"1.0.0","name":"n","type":"podint"}`),
			types.ErrIncompatibleCNIVersion, "GC"},
	} {
		out, err := harness.ExecPlugin(ctx, podint, tc.call)
		if err != nil {
			t.Fatal(err)
		}
		if out.ExitCode == 0 {
			t.Errorf("%s: exit 0, want a failure", tc.name)
			continue
		}
		// CNIError decodes stdout whole: any other output there fails it.
		e, err := out.CNIError()
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if e.Code != tc.code || !strings.Contains(e.Msg+" "+e.Details, tc.says) {
			t.Errorf("%s: error %+v, want code %d saying %q", tc.name, e, tc.code, tc.says)
		}
	}
}

// logFile gets the plugin's log lines besides stderr; stdout keeps only
// the result.
func TestPluginLogsToItsLogFile(t *testing.T) {
	n := newIdleNode(t, harness.NodeConfig{})
	ctx := testContext(t)
	p, err := n.AddVethPod("l", "vethlog0", "10.22.0.9/24")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.NS.Delete() })
	logFile := filepath.Join(n.Paths.Root, "podint-cni.log")
	prev := []byte(`{"cniVersion":"1.1.0","interfaces":[{"name":"eth0","sandbox":"` + p.NS.Path + `"}],"ips":[{"address":"10.22.0.9/24","interface":0}]}`)
	conf := podintConf(n, "1.1.0", `,"logFile":"`+logFile+`"`, prev)
	out, err := n.ExecPlugin(ctx, "podint", p.PodintCall("ADD", conf))
	if err != nil || out.ExitCode != 0 {
		t.Fatalf("ADD: %v, exit %d: %s", err, out.ExitCode, out.Stdout)
	}
	if !bytes.Equal(out.Stdout, prev) {
		t.Errorf("stdout %q, want only the result", out.Stdout)
	}
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	// No daemon ever ran here: the log says there is no probe and why.
	if !strings.Contains(string(b), "no probe") || !strings.Contains(string(b), "container="+p.ContainerID) {
		t.Errorf("log file:\n%s\nwant the line about the missing probe, naming the container", b)
	}
	if !bytes.Contains(out.Stderr, []byte("no probe")) {
		t.Errorf("stderr %q lacks the log line", out.Stderr)
	}
}
