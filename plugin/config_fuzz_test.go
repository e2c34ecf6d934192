package plugin

import (
	"errors"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
)

// FuzzParseConfig: whatever the runtime sends on stdin, parsing never
// panics, and every refusal is a CNI error with a spec code (6 decode, 7
// invalid config) and a message, since that is what the runtime shows.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"cniVersion":"1.1.0","name":"n","type":"podint"}`))
	f.Add([]byte(`{"cniVersion":"1.0.0","name":"n","type":"podint","failPolicy":"fail","attachMode":"tc","root":"/r"}`))
	f.Add([]byte(`{"cniVersion":"0.3.1","name":"n","type":"podint","prevResult":{"cniVersion":"0.3.1","interfaces":[{"name":"eth0","sandbox":"/x"}],"ips":[{"version":"4","address":"10.0.0.2/24","interface":0}]}}`))
	f.Add([]byte(`{"cniVersion":"1.1.0","name":"n","type":"podint","cni.dev/valid-attachments":[{"containerID":"c","ifname":"eth0"}]}`))
	f.Add([]byte(`{"cniVersion":"1.1.0","name":"n","type":"podint","podSide":false,"attachPosition":"last"}`))
	f.Add([]byte(`{"cniVersion":"1.1.0","name":"n","type":"podint","podSide":"off"}`))
	f.Add([]byte(`{"failPolicy":7}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, stdin []byte) {
		conf, err := parseConfig(stdin)
		if err == nil {
			if conf.FailPolicy == "" || conf.AttachMode == "" || conf.Root == "" {
				t.Fatalf("accepted config without defaults: %+v", conf)
			}
			return
		}
		var e *types.Error
		if !errors.As(err, &e) {
			t.Fatalf("refusal is not a CNI error: %T %v", err, err)
		}
		if (e.Code != types.ErrDecodingFailure && e.Code != types.ErrInvalidNetworkConfig) || e.Msg == "" {
			t.Fatalf("refusal with code %d msg %q, want 6 or 7 with a message", e.Code, e.Msg)
		}
	})
}
