// Package render renders podint's Helm chart as `helm template` does and
// turns the result into the plain manifests of deployments/kubernetes.
package render

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
)

// The release the plain manifests stand for: `helm install podint
// deployments/helm/podint --namespace kube-system`. kube-system because
// node agents that need host access are admitted there by Pod Security, and
// system-node-critical pods are allowed there.
const (
	ReleaseName = "podint"
	Namespace   = "kube-system"
)

// PlainManifests are the files of deployments/kubernetes and the chart values
// each is rendered with (nil: the defaults).
var PlainManifests = map[string]map[string]any{
	"podint.yaml":    nil,
	"uninstall.yaml": {"uninstall": true},
}

// HelmOnlyLabels exist only on objects Helm manages; the plain manifests,
// applied with kubectl, do not carry them.
var HelmOnlyLabels = []string{"helm.sh/chart", "app.kubernetes.io/managed-by"}

// Document is one rendered Kubernetes object.
type Document struct {
	Source string // the chart template it came from
	YAML   []byte
}

// Chart renders the chart in dir with values merged over its defaults, in
// the order Helm installs objects. Values are checked against the chart's
// values.schema.json, and templates may not use values that do not exist.
func Chart(dir string, values map[string]any) ([]Document, error) {
	return render(dir, values, nil)
}

// Upgrade renders the chart as `helm upgrade` does against a cluster that
// cluster stands for: the templates' lookup calls read from it.
func Upgrade(dir string, values map[string]any, cluster engine.ClientProvider) ([]Document, error) {
	return render(dir, values, cluster)
}

func render(dir string, values map[string]any, cluster engine.ClientProvider) ([]Document, error) {
	ch, err := loader.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("loading the chart: %w", err)
	}
	opts := chartutil.ReleaseOptions{Name: ReleaseName, Namespace: Namespace, Revision: 1, IsInstall: true}
	if cluster != nil {
		opts.Revision, opts.IsInstall, opts.IsUpgrade = 2, false, true
	}
	vals, err := chartutil.ToRenderValues(ch, values, opts, chartutil.DefaultCapabilities.Copy())
	if err != nil {
		return nil, fmt.Errorf("chart values: %w", err)
	}
	var files map[string]string
	if cluster != nil {
		files, err = engine.RenderWithClientProvider(ch, vals, cluster)
	} else {
		files, err = engine.Engine{Strict: true}.Render(ch, vals)
	}
	if err != nil {
		return nil, fmt.Errorf("rendering the chart: %w", err)
	}
	manifests := map[string]string{}
	for name, content := range files {
		if strings.HasSuffix(name, ".yaml") && strings.TrimSpace(content) != "" {
			manifests[name] = content
		}
	}
	hooks, sorted, err := releaseutil.SortManifests(manifests, nil, releaseutil.InstallOrder)
	if err != nil {
		return nil, fmt.Errorf("sorting the rendered objects: %w", err)
	}
	if len(hooks) > 0 {
		return nil, fmt.Errorf("the chart renders %d hooks; kubectl cannot apply hooks, so the plain manifests could not match", len(hooks))
	}
	docs := make([]Document, 0, len(sorted))
	for _, m := range sorted {
		// Helm trims each object; `helm template` prints each on lines of its
		// own, which a final block scalar (the watchlist) keeps its newline from.
		docs = append(docs, Document{Source: m.Name, YAML: []byte(m.Content + "\n")})
	}
	return docs, nil
}

// Plain returns a rendered object as it goes into the plain manifests,
// without the labels that only Helm-managed objects carry. It edits the text,
// so the templates' layout and comments reach kubectl users; Normalize checks
// the result.
func Plain(doc []byte) []byte {
	var b bytes.Buffer
	for _, line := range strings.SplitAfter(string(doc), "\n") {
		if !isHelmOnlyLabel(line) {
			b.WriteString(line)
		}
	}
	return b.Bytes()
}

func isHelmOnlyLabel(line string) bool {
	for _, l := range HelmOnlyLabels {
		if strings.HasPrefix(strings.TrimSpace(line), l+":") {
			return true
		}
	}
	return false
}

// StripHelmOnlyLabels removes HelmOnlyLabels from every "labels" map of a
// decoded object, wherever it sits (metadata, pod templates).
func StripHelmOnlyLabels(v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, child := range v {
			if labels, ok := child.(map[string]any); ok && k == "labels" {
				for _, l := range HelmOnlyLabels {
					delete(labels, l)
				}
			}
			StripHelmOnlyLabels(child)
		}
	case []any:
		for _, child := range v {
			StripHelmOnlyLabels(child)
		}
	}
}

// Manifest joins objects into one multi-document YAML file under header.
func Manifest(header string, docs [][]byte) []byte {
	var b bytes.Buffer
	b.WriteString(header)
	for _, d := range docs {
		b.WriteString("---\n")
		b.Write(bytes.TrimLeft(d, "\n"))
		if !bytes.HasSuffix(d, []byte("\n")) {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// documentSeparator is YAML's "---" line between documents.
var documentSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// SplitYAML splits a multi-document YAML file into its documents, leaving
// out those that hold only comments.
func SplitYAML(data []byte) [][]byte {
	var docs [][]byte
	for _, d := range documentSeparator.Split(string(data), -1) {
		if strings.TrimSpace(stripComments(d)) != "" {
			docs = append(docs, []byte(d))
		}
	}
	return docs
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}
