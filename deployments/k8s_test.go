package deployments_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/podint/podint/deployments/render"
)

const chartDir = "helm/podint"

// kinds are the Kubernetes types podint deploys. A document of any other
// kind, or with a field its type does not have, fails the tests.
var kinds = map[string]func() any{
	"v1/ServiceAccount": func() any { return &corev1.ServiceAccount{} },
	"v1/ConfigMap":      func() any { return &corev1.ConfigMap{} },
	"apps/v1/DaemonSet": func() any { return &appsv1.DaemonSet{} },
	// The collector (collector.enabled).
	"apps/v1/Deployment": func() any { return &appsv1.Deployment{} },
	"v1/Service":         func() any { return &corev1.Service{} },
	"v1/Secret":          func() any { return &corev1.Secret{} }, // the topology token the chart makes
}

// object is one decoded Kubernetes object.
type object struct {
	key string // apiVersion/kind namespace/name
	obj any    // *corev1.ConfigMap, *appsv1.DaemonSet, ...
}

// decodeStrict decodes a YAML document into its Kubernetes API type,
// rejecting unknown and duplicate fields.
func decodeStrict(doc []byte) (object, error) {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		return object{}, err
	}
	typ := head.APIVersion + "/" + head.Kind
	newObj, ok := kinds[typ]
	if !ok {
		return object{}, fmt.Errorf("%s %s: a kind podint does not deploy; add it to kinds in k8s_test.go if it is meant", typ, head.Metadata.Name)
	}
	obj := newObj()
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return object{}, fmt.Errorf("%s %s: %w", typ, head.Metadata.Name, err)
	}
	return object{key: fmt.Sprintf("%s %s/%s", typ, head.Metadata.Namespace, head.Metadata.Name), obj: obj}, nil
}

func decodeAll(t *testing.T, what string, docs [][]byte) []object {
	t.Helper()
	var objs []object
	for i, d := range docs {
		o, err := decodeStrict(d)
		if err != nil {
			t.Fatalf("%s, document %d: %v", what, i+1, err)
		}
		objs = append(objs, o)
	}
	return objs
}

// renderChart renders the chart with values and decodes every object strictly.
func renderChart(t *testing.T, values map[string]any) []object {
	t.Helper()
	docs, err := render.Chart(chartDir, values)
	if err != nil {
		t.Fatal(err)
	}
	var raw [][]byte
	for _, d := range docs {
		raw = append(raw, d.YAML)
	}
	return decodeAll(t, "chart rendering", raw)
}

func readManifest(t *testing.T, name string) []object {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("kubernetes", name))
	if err != nil {
		t.Fatal(err)
	}
	return decodeAll(t, "kubernetes/"+name, render.SplitYAML(data))
}

// normalized is an object as plain JSON values, without Helm-only labels:
// typed decoding first drops formatting and fills in nothing, so two objects
// are equal exactly when Kubernetes would see the same object.
func normalized(t *testing.T, o object) any {
	t.Helper()
	data, err := json.Marshal(o.obj)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	render.StripHelmOnlyLabels(v)
	return v
}

// diff lists the paths at which a and b differ, e.g.
// spec.template.spec.containers[0].args[3]: "--x" != "--y".
func diff(path string, a, b any) []string {
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			break
		}
		keys := map[string]bool{}
		for k := range av {
			keys[k] = true
		}
		for k := range bv {
			keys[k] = true
		}
		var out []string
		for k := range keys {
			out = append(out, diff(strings.TrimPrefix(path+"."+k, "."), av[k], bv[k])...)
		}
		sort.Strings(out)
		return out
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			break
		}
		var out []string
		for i := range av {
			out = append(out, diff(fmt.Sprintf("%s[%d]", path, i), av[i], bv[i])...)
		}
		return out
	}
	if reflect.DeepEqual(a, b) {
		return nil
	}
	aj, _ := json.Marshal(a)
	bj, _ := json.Marshal(b)
	return []string{fmt.Sprintf("%s: %s != %s", path, aj, bj)}
}

func find[T any](t *testing.T, objs []object) *T {
	t.Helper()
	for _, o := range objs {
		if v, ok := o.obj.(*T); ok {
			return v
		}
	}
	var zero T
	t.Fatalf("no %T among %v", zero, keys(objs))
	return nil
}

func keys(objs []object) []string {
	var k []string
	for _, o := range objs {
		k = append(k, o.key)
	}
	slices.Sort(k)
	return k
}
