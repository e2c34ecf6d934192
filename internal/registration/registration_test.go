package registration

import (
	"encoding/json"
	"reflect"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	podintv1 "github.com/podint/podint/proto/podint/v1"
)

// fullProbe sets every field of a registration, so that a field the .proto
// renames, retypes or adds shows below.
func fullProbe() *Probe {
	return &Probe{
		Ifindex: 7, HostInterface: "veth1", Kind: KindPod, AttachMode: "tcx",
		PodHooks: []string{"pod_ingress"}, RegisteredUnixNano: 1764633600123456789, Addresses: []string{"10.1.0.2"},
		Pod: &Pod{Namespace: "ns", Name: "n", UID: "u", ContainerID: "c1", Netns: "/run/netns/x", Interface: "eth0",
			IPs: []PodIP{{Address: "10.1.0.2/16", Gateway: "10.1.0.1", Subnet: "10.1.0.0/16"}}, MAC: "02:00:00:00:00:01",
			InfraContainerID: "pause1"},
	}
}

// The plugin's types are the gRPC API's messages in protojson: the daemon
// decodes them with the generated code (strictly: an unknown name fails),
// and what it encodes decodes back to the same values.
func TestProbeIsTheProtoMessage(t *testing.T) {
	want := fullProbe()
	b, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var msg podintv1.Probe
	if err := protojson.Unmarshal(b, &msg); err != nil {
		t.Fatalf("the daemon cannot read the plugin's registration: %v\n%s", err, b)
	}
	back, err := protojson.Marshal(&msg)
	if err != nil {
		t.Fatal(err)
	}
	var got Probe
	if err := json.Unmarshal(back, &got); err != nil {
		t.Fatalf("the plugin cannot read the daemon's probe: %v\n%s", err, back)
	}
	if !reflect.DeepEqual(&got, want) {
		t.Errorf("round trip through podint.v1.Probe:\n got %+v\nwant %+v", got, want)
	}
	// Every field of the messages is carried: a new one needs a field here.
	for _, m := range []proto.Message{&msg, msg.GetPod(), msg.GetPod().GetIps()[0]} {
		r := m.ProtoReflect()
		fields := r.Descriptor().Fields()
		for i := range fields.Len() {
			if f := fields.Get(i); !r.Has(f) {
				t.Errorf("%s.%s is not carried by the registration types", r.Descriptor().Name(), f.Name())
			}
		}
	}
}

// The requests and answers of the protocol are the gRPC messages too.
func TestRequestsAreTheProtoMessages(t *testing.T) {
	for _, tc := range []struct {
		mine any
		msg  proto.Message
	}{
		{RegisterRequest{Probe: fullProbe()}, &podintv1.RegisterRequest{}},
		{UnregisterRequest{ContainerID: "c1", PodInterface: "eth0"}, &podintv1.UnregisterRequest{}},
		{UnregisterResponse{Found: true}, &podintv1.UnregisterResponse{}},
		{ListProbesResponse{Probes: []*Probe{fullProbe()}}, &podintv1.ListProbesResponse{}},
	} {
		b, _ := json.Marshal(tc.mine)
		if err := protojson.Unmarshal(b, tc.msg); err != nil {
			t.Errorf("%T is not %s: %v", tc.mine, tc.msg.ProtoReflect().Descriptor().FullName(), err)
			continue
		}
		r := tc.msg.ProtoReflect()
		fields := r.Descriptor().Fields()
		for i := range fields.Len() {
			if f := fields.Get(i); !r.Has(f) {
				t.Errorf("%s.%s is not carried", r.Descriptor().Name(), f.Name())
			}
		}
	}
}
