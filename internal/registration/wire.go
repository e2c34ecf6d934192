// Package registration is how the CNI plugin tells podintd about a pod's
// probe without linking gRPC: a tiny protocol on the daemon's API socket
// (one JSON request per line, one JSON answer per line), and the pending
// file ADD leaves when the daemon is unreachable. Both carry the gRPC API's
// messages in their protojson form, so the daemon reads them with the
// generated code; the types here hold exactly the fields the plugin sets
// or reads, and registration_test.go holds them to the .proto.
package registration

import "encoding/json"

// KindPod is PortKind PORT_KIND_POD as protojson spells it.
const KindPod = "PORT_KIND_POD"

// PodIP is podint.v1.PodIP.
type PodIP struct {
	Address string `json:"address,omitempty"`
	Gateway string `json:"gateway,omitempty"`
	Subnet  string `json:"subnet,omitempty"`
}

// Pod is podint.v1.Pod.
type Pod struct {
	Namespace        string  `json:"namespace,omitempty"`
	Name             string  `json:"name,omitempty"`
	UID              string  `json:"uid,omitempty"`
	ContainerID      string  `json:"containerId,omitempty"`
	Netns            string  `json:"netns,omitempty"`
	Interface        string  `json:"interface,omitempty"`
	IPs              []PodIP `json:"ips,omitempty"`
	MAC              string  `json:"mac,omitempty"`
	InfraContainerID string  `json:"infraContainerId,omitempty"`
}

// Probe is podint.v1.Probe: a pod probe's registration.
type Probe struct {
	Ifindex       uint32   `json:"ifindex,omitempty"`
	HostInterface string   `json:"hostInterface,omitempty"`
	Kind          string   `json:"kind,omitempty"`
	Pod           *Pod     `json:"pod,omitempty"`
	AttachMode    string   `json:"attachMode,omitempty"`
	PodHooks      []string `json:"podHooks,omitempty"`
	// RegisteredUnixNano is set by the daemon; protojson writes an int64
	// as a string.
	RegisteredUnixNano int64    `json:"registeredUnixNano,omitempty,string"`
	Addresses          []string `json:"addresses,omitempty"`
}

// The methods of the protocol: the gRPC API's unary calls the plugin makes.
const (
	MethodRegister   = "Register"
	MethodUnregister = "Unregister"
	MethodListProbes = "ListProbes"
)

// Request is one line a client sends: the method and its gRPC request
// message in protojson.
type Request struct {
	Method  string          `json:"method"`
	Request json.RawMessage `json:"request,omitempty"`
}

// Answer is the line the daemon sends back: the gRPC response message in
// protojson, or the error with its gRPC code name.
type Answer struct {
	Response json.RawMessage `json:"response,omitempty"`
	Error    *Error          `json:"error,omitempty"`
}

// Error is a call the daemon answered with an error.
type Error struct {
	Code    string `json:"code"` // the gRPC code's name, e.g. InvalidArgument
	Message string `json:"message"`
}

func (e *Error) Error() string { return "podintd: " + e.Message + " (" + e.Code + ")" }

// RegisterRequest is podint.v1.RegisterRequest.
type RegisterRequest struct {
	Probe *Probe `json:"probe,omitempty"`
}

// UnregisterRequest is podint.v1.UnregisterRequest.
type UnregisterRequest struct {
	ContainerID  string `json:"containerId,omitempty"`
	PodInterface string `json:"podInterface,omitempty"`
}

// UnregisterResponse is podint.v1.UnregisterResponse.
type UnregisterResponse struct {
	Found bool `json:"found,omitempty"`
}

// ListProbesResponse is podint.v1.ListProbesResponse.
type ListProbesResponse struct {
	Probes []*Probe `json:"probes,omitempty"`
}
