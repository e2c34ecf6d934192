package deployments_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/podint/podint/deployments/render"
)

// Every plain manifest decodes strictly into the Kubernetes API types.
func TestPlainManifestsDecodeStrictly(t *testing.T) {
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for name := range render.PlainManifests {
		if !slices.Contains(files, filepath.Join("kubernetes", name)) {
			t.Errorf("kubernetes/%s is missing; run go run ./cmd/render-manifests", name)
		}
	}
	for _, f := range files {
		if objs := readManifest(t, filepath.Base(f)); len(objs) == 0 {
			t.Errorf("%s holds no object", f)
		}
	}
}

// The plain manifests are what `helm template` renders (Helm-only labels
// aside), object for object and field for field.
func TestPlainManifestsAreTheRenderedChart(t *testing.T) {
	for name, values := range render.PlainManifests {
		t.Run(name, func(t *testing.T) {
			want := renderChart(t, values)
			got := readManifest(t, name)
			if !slices.Equal(keys(got), keys(want)) {
				t.Fatalf("kubernetes/%s holds %v, the chart renders %v; run go run ./cmd/render-manifests", name, keys(got), keys(want))
			}
			for i := range want {
				g, w := got[i], want[i]
				if g.key != w.key {
					t.Errorf("kubernetes/%s: object %d is %s, the chart renders %s at that place", name, i+1, g.key, w.key)
					continue
				}
				if d := diff("", normalized(t, g), normalized(t, w)); len(d) > 0 {
					t.Errorf("kubernetes/%s: %s differs from the chart (file != chart); run go run ./cmd/render-manifests:\n  %s", name, g.key, strings.Join(d, "\n  "))
				}
			}
		})
	}
}

// The test above must be able to fail: a changed field is reported by path.
func TestDiffNamesTheField(t *testing.T) {
	objs := renderChart(t, nil)
	changed := renderChart(t, map[string]any{"report": map[string]any{"format": "v2.0"}})
	var d []string
	for i := range objs {
		d = append(d, diff("", normalized(t, objs[i]), normalized(t, changed[i]))...)
	}
	want := `spec.template.spec.containers[0].args[4]: "--report-format=v0.5" != "--report-format=v2.0"`
	if !slices.Contains(d, want) {
		t.Fatalf("diff = %q, want it to contain %q", d, want)
	}
}
