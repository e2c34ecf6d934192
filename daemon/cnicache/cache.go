// Package cnicache reads the container runtime's libcni result cache
// (<cache dir>/results), where containerd and CRI-O keep what every CNI ADD
// returned. A daemon that was down while pods were added rebuilds their
// registrations from it.
package cnicache

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/types/create"

	"github.com/podint/podint/internal/cniresult"
	podintv1 "github.com/podint/podint/proto/podint/v1"
)

// Attachment is one cached CNI ADD: a pod interface on one network.
type Attachment struct {
	ContainerID string
	IfName      string
	NetworkName string
	NetNS       string            // recorded by libcni 1.1 and later
	Args        map[string]string // CNI_ARGS, e.g. K8S_POD_NAME
	Result      *current.Result   // nil when the result is missing or unreadable
}

// entry is the file libcni writes (libcni's cachedInfo, kind cniCacheV1).
type entry struct {
	Kind        string          `json:"kind"`
	ContainerID string          `json:"containerId"`
	IfName      string          `json:"ifName"`
	NetworkName string          `json:"networkName"`
	NetNS       string          `json:"netns"`
	CniArgs     [][2]string     `json:"cniArgs"`
	Result      json.RawMessage `json:"result"`
}

// List reads every cached attachment under cacheDir. A missing directory
// is an empty cache; unreadable files are skipped and reported in the error,
// with every attachment that could be read.
func List(cacheDir string) ([]Attachment, error) {
	dir := filepath.Join(cacheDir, "results")
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read CNI result cache %s (see --cni-cache-dir): %w", dir, err)
	}
	var out []Attachment
	var errs []error
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		a, err := read(filepath.Join(dir, e.Name()))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, a)
	}
	return out, errors.Join(errs...)
}

func read(path string) (Attachment, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Attachment{}, fmt.Errorf("read CNI cache entry: %w", err)
	}
	var e entry
	if err := json.Unmarshal(b, &e); err != nil {
		return Attachment{}, fmt.Errorf("CNI cache entry %s: %w", path, err)
	}
	if e.ContainerID == "" || e.IfName == "" {
		return Attachment{}, fmt.Errorf("CNI cache entry %s names no container or interface", path)
	}
	a := Attachment{ContainerID: e.ContainerID, IfName: e.IfName, NetworkName: e.NetworkName,
		NetNS: e.NetNS, Args: map[string]string{}}
	for _, kv := range e.CniArgs {
		a.Args[kv[0]] = kv[1]
	}
	if len(e.Result) > 0 && string(e.Result) != "null" {
		if r, err := create.CreateFromBytes(e.Result); err == nil {
			a.Result, _ = current.NewResultFromResult(r)
		}
	}
	return a, nil
}

// Pod is the pod side of the attachment as a registration holds it.
func (a *Attachment) Pod() *podintv1.Pod {
	return &podintv1.Pod{
		Namespace:        a.Args["K8S_POD_NAMESPACE"],
		Name:             a.Args["K8S_POD_NAME"],
		Uid:              a.Args["K8S_POD_UID"],
		InfraContainerId: a.Args["K8S_POD_INFRA_CONTAINER_ID"],
		ContainerId:      a.ContainerID,
		Netns:            a.NetNS,
		Interface:        a.IfName,
		Ips:              podIPs(a.Result, a.IfName),
	}
}

// podIPs are the pod's addresses as the plugin registers them.
func podIPs(res *current.Result, podIf string) []*podintv1.PodIP {
	var out []*podintv1.PodIP
	for _, ip := range cniresult.PodIPs(res, podIf) {
		out = append(out, &podintv1.PodIP{Address: ip.Address, Gateway: ip.Gateway, Subnet: ip.Subnet})
	}
	return out
}
