package plugin

import (
	"bytes"
	"encoding/json"
	"net"
	"testing"

	current "github.com/containernetworking/cni/pkg/types/100"
)

// prevResultIn is a bridge-shaped result encoded in version v.
func prevResultIn(t *testing.T, v string) []byte {
	t.Helper()
	res := &current.Result{
		CNIVersion: "1.1.0",
		Interfaces: []*current.Interface{{Name: "cni0", Mac: "0a:58:0a:16:00:01"}, {Name: "veth1", Mac: "0a:58:0a:16:00:02"},
			{Name: "eth0", Mac: "0a:58:0a:16:00:03", Sandbox: "/var/run/netns/p"}},
		IPs: []*current.IPConfig{{Interface: current.Int(2), Address: net.IPNet{IP: net.IPv4(10, 22, 0, 5).To4(),
			Mask: net.CIDRMask(24, 32)}, Gateway: net.IPv4(10, 22, 0, 1)}},
	}
	r, err := res.GetAsVersion(v)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func confWithPrev(v string, prev []byte) []byte {
	return []byte(`{"cniVersion":"` + v + `","name":"n","type":"podint","prevResult":` + string(prev) + `}`)
}

func TestPrevResultPassesThroughByteForByte(t *testing.T) {
	for _, v := range SupportedVersions.SupportedVersions() {
		// Odd spacing and a key no result type knows: both must survive.
		prev := bytes.Replace(prevResultIn(t, v), []byte(`{"cniVersion"`), []byte(`{ "x-vendor": {"k": 1},  "cniVersion"`), 1)
		stdin := confWithPrev(v, prev)
		conf, err := parseConfig(stdin)
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		var out bytes.Buffer
		if err := writePrevResult(&out, conf, stdin); err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		if !bytes.Equal(out.Bytes(), prev) {
			t.Errorf("%s: result\n%s\nwant the prevResult\n%s", v, out.Bytes(), prev)
		}
	}
}

func TestPrevResultOfAnOlderVersionIsConverted(t *testing.T) {
	stdin := confWithPrev("0.4.0", prevResultIn(t, "0.3.0"))
	conf, err := parseConfig(stdin)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := writePrevResult(&out, conf, stdin); err != nil {
		t.Fatal(err)
	}
	var got struct {
		CNIVersion string `json:"cniVersion"`
		IPs        []struct {
			Address string `json:"address"`
		} `json:"ips"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%v: %s", err, out.Bytes())
	}
	if got.CNIVersion != "0.4.0" || len(got.IPs) != 1 || got.IPs[0].Address != "10.22.0.5/24" {
		t.Errorf("converted result %s, want the same result as 0.4.0", out.Bytes())
	}
}
