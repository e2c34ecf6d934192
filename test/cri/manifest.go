package cri

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"gopkg.in/yaml.v3"
)

// The parts of the Kubernetes objects the kubelet reads to run podint's
// DaemonSet. The manifests are the chart rendered with its defaults
// (deployments/kubernetes/*.yaml, kept equal to `helm template` by the
// deployments module's TestPlainManifestsAreTheRenderedChart), so the node
// test runs what the chart renders without the main module depending on Helm.

type object struct {
	Kind     string                `yaml:"kind"`
	Metadata struct{ Name string } `yaml:"metadata"`
	Data     map[string]string     `yaml:"data"`
	Spec     struct {
		Template struct {
			Spec PodSpec `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// PodSpec is a pod template's spec.
type PodSpec struct {
	HostNetwork    bool        `yaml:"hostNetwork"`
	InitContainers []Container `yaml:"initContainers"`
	Containers     []Container `yaml:"containers"`
	Volumes        []Volume    `yaml:"volumes"`
}

type Container struct {
	Name            string   `yaml:"name"`
	Image           string   `yaml:"image"`
	Command         []string `yaml:"command"`
	Args            []string `yaml:"args"`
	Env             []EnvVar `yaml:"env"`
	SecurityContext struct {
		Privileged             bool `yaml:"privileged"`
		ReadOnlyRootFilesystem bool `yaml:"readOnlyRootFilesystem"`
		Capabilities           struct {
			Add  []string `yaml:"add"`
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	VolumeMounts []VolumeMount `yaml:"volumeMounts"`
}

type EnvVar struct {
	Name      string `yaml:"name"`
	Value     string `yaml:"value"`
	ValueFrom struct {
		FieldRef struct {
			FieldPath string `yaml:"fieldPath"`
		} `yaml:"fieldRef"`
	} `yaml:"valueFrom"`
}

type VolumeMount struct {
	Name             string `yaml:"name"`
	MountPath        string `yaml:"mountPath"`
	MountPropagation string `yaml:"mountPropagation"`
	ReadOnly         bool   `yaml:"readOnly"`
}

type Volume struct {
	Name     string `yaml:"name"`
	HostPath *struct {
		Path string `yaml:"path"`
		Type string `yaml:"type"`
	} `yaml:"hostPath"`
	ConfigMap *struct {
		Name string `yaml:"name"`
	} `yaml:"configMap"`
}

// Manifest is a rendered manifest: the DaemonSet's pod template and the
// ConfigMaps its volumes name.
type Manifest struct {
	Pod        PodSpec
	ConfigMaps map[string]map[string]string
}

// ReadManifest reads a multi-document manifest such as
// deployments/kubernetes/podint.yaml.
func ReadManifest(path string) (*Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := &Manifest{ConfigMaps: map[string]map[string]string{}}
	found := false
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var o object
		if err := dec.Decode(&o); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		switch o.Kind {
		case "DaemonSet":
			m.Pod, found = o.Spec.Template.Spec, true
		case "ConfigMap":
			m.ConfigMaps[o.Metadata.Name] = o.Data
		}
	}
	if !found {
		return nil, fmt.Errorf("%s: no DaemonSet", path)
	}
	return m, nil
}

// WithImage is the pod template with every container of the podint image
// running image instead: the DaemonSet after `helm upgrade --set image.tag=…`.
func (m *Manifest) WithImage(image string) PodSpec {
	old := m.Pod.Containers[0].Image
	spec := m.Pod
	swap := func(cs []Container) []Container {
		out := append([]Container(nil), cs...)
		for i := range out {
			if out[i].Image == old {
				out[i].Image = image
			}
		}
		return out
	}
	spec.InitContainers, spec.Containers = swap(spec.InitContainers), swap(spec.Containers)
	return spec
}
