package deployments_test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"sigs.k8s.io/yaml"

	"github.com/podint/podint/deployments/render"
)

func container(t *testing.T, spec corev1.PodSpec, name string) corev1.Container {
	t.Helper()
	for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %q", name)
	return corev1.Container{}
}

// flag returns the values of --name=value arguments.
func flag(c corev1.Container, name string) []string {
	var vals []string
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			vals = append(vals, v)
		}
	}
	return vals
}

// The DaemonSet runs on every node with host networking, the least
// privileges that work, and probes that reach the daemon.
func TestDaemonSetDefaults(t *testing.T) {
	objs := renderChart(t, nil)
	ds := find[appsv1.DaemonSet](t, objs)
	pod := ds.Spec.Template.Spec

	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil || !sel.Matches(labels.Set(ds.Spec.Template.Labels)) {
		t.Errorf("selector %v does not select the pod template's labels %v (%v)", ds.Spec.Selector, ds.Spec.Template.Labels, err)
	}
	if !pod.HostNetwork || pod.DNSPolicy != corev1.DNSClusterFirstWithHostNet {
		t.Errorf("hostNetwork %v, dnsPolicy %q; want host networking that still resolves Services", pod.HostNetwork, pod.DNSPolicy)
	}
	if !slices.ContainsFunc(pod.Tolerations, func(tl corev1.Toleration) bool {
		return tl.Key == "" && tl.Operator == corev1.TolerationOpExists && tl.Effect == ""
	}) {
		t.Errorf("tolerations %v do not tolerate every taint; pods on tainted nodes would go unprobed", pod.Tolerations)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("the pod mounts an API token it never uses")
	}
	if sa := find[corev1.ServiceAccount](t, objs); sa.Name != pod.ServiceAccountName {
		t.Errorf("pod runs as %q, the chart creates %q", pod.ServiceAccountName, sa.Name)
	}

	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	cms := map[string]*corev1.ConfigMap{}
	for _, o := range objs {
		if cm, ok := o.obj.(*corev1.ConfigMap); ok {
			cms[cm.Name] = cm
		}
	}
	for _, c := range append(slices.Clone(pod.InitContainers), pod.Containers...) {
		for _, m := range c.VolumeMounts {
			if _, ok := volumes[m.Name]; !ok {
				t.Errorf("container %s mounts volume %q, which the pod does not define", c.Name, m.Name)
			}
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
			t.Errorf("container %s has no cpu and memory requests", c.Name)
		}
		if want := "ghcr.io/podint/podint:" + appVersion(t); c.Image != want {
			t.Errorf("container %s runs %s, want %s", c.Name, c.Image, want)
		}
		sc := c.SecurityContext
		privileged := sc != nil && sc.Privileged != nil && *sc.Privileged
		if privileged != (c.Name == "mount-bpffs") {
			t.Errorf("container %s privileged = %v; only mount-bpffs needs it (for Bidirectional mount propagation)", c.Name, privileged)
		}
	}
	for _, v := range pod.Volumes {
		if v.ConfigMap != nil && cms[v.ConfigMap.Name] == nil {
			t.Errorf("volume %s uses ConfigMap %q, which the chart does not create", v.Name, v.ConfigMap.Name)
		}
	}
	hostPaths := map[string]bool{}
	for _, v := range pod.Volumes {
		if v.HostPath != nil {
			hostPaths[v.HostPath.Path] = true
		}
	}
	for _, p := range []string{"/opt/cni/bin", "/etc/cni/net.d", "/sys/fs/bpf", "/run/podint"} {
		if !hostPaths[p] {
			t.Errorf("no hostPath volume for %s", p)
		}
	}

	d := container(t, pod, "podintd")
	caps := d.SecurityContext.Capabilities
	var added []string
	for _, c := range caps.Add {
		added = append(added, string(c))
	}
	slices.Sort(added)
	if want := []string{"BPF", "NET_ADMIN", "PERFMON", "SYS_ADMIN", "SYS_RESOURCE"}; !slices.Equal(added, want) || !slices.Equal(caps.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("podintd capabilities add %v drop %v; want add %v drop [ALL]", added, caps.Drop, want)
	}
	listen := flag(d, "http-listen")
	for name, p := range map[string]*corev1.Probe{"liveness": d.LivenessProbe, "readiness": d.ReadinessProbe, "startup": d.StartupProbe} {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("podintd has no %s httpGet probe", name)
			continue
		}
		if got := fmt.Sprintf("%s:%s", p.HTTPGet.Host, p.HTTPGet.Port.String()); !slices.Equal(listen, []string{got}) || p.HTTPGet.Path != "/healthz" {
			t.Errorf("%s probe asks %s%s, the daemon listens on %v", name, got, p.HTTPGet.Path, listen)
		}
	}
	if got := flag(d, "switch-id"); !slices.Equal(got, []string{"$(NODE_IP)"}) || !envFrom(d, "NODE_IP", "status.hostIP") {
		t.Errorf("switch id %v; want the node IP from the downward API", got)
	}
	if got := flag(d, "node-name"); !slices.Equal(got, []string{"$(NODE_NAME)"}) || !envFrom(d, "NODE_NAME", "spec.nodeName") {
		t.Errorf("node name %v; want spec.nodeName from the downward API", got)
	}
	if len(flag(d, "collector")) == 0 {
		t.Errorf("podintd has no --collector")
	}

	in := container(t, pod, "install-cni")
	mounts := map[string]bool{}
	for _, m := range in.VolumeMounts {
		mounts[m.MountPath] = true
	}
	for _, f := range []string{"cni-bin-dir", "cni-conf-dir"} {
		if v := flag(in, f); len(v) != 1 || !mounts[v[0]] {
			t.Errorf("install-cni --%s=%v is not one of its mounts %v", f, v, mounts)
		}
	}
}

func envFrom(c corev1.Container, name, fieldPath string) bool {
	return slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool {
		return e.Name == name && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == fieldPath
	})
}

func appVersion(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(chartDir + "/Chart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	return c.AppVersion
}

func TestChartValues(t *testing.T) {
	rules := []any{map[string]any{"protocol": "TCP", "src-addr": "10.0.0.0/8", "dst-addr": "10.0.0.0/8"}}
	objs := renderChart(t, map[string]any{
		"collectors": []any{"deepinsight.example.net:32766", "10.1.2.3:9000"},
		"report":     map[string]any{"format": "v2.0", "interval": "500ms"},
		"switchID":   "192.0.2.7",
		"uplinks":    []any{"eth0", "bond0"},
		"watchlist":  map[string]any{"rules": rules},
		"cni": map[string]any{
			"binDir":       "/var/lib/rancher/k3s/data/cni",
			"confDir":      "/var/lib/rancher/k3s/agent/etc/cni/net.d",
			"readByMultus": true,
			"podSide":      false,
			"pluginConfig": map[string]any{"attachMode": "tc"},
		},
		"bpffs": map[string]any{"mount": false},
		"image": map[string]any{"repository": "registry.example/podint", "tag": "v9"},
	})
	pod := find[appsv1.DaemonSet](t, objs).Spec.Template.Spec
	d, in := container(t, pod, "podintd"), container(t, pod, "install-cni")
	for _, tc := range []struct {
		c    corev1.Container
		flag string
		want []string
	}{
		{d, "collector", []string{"deepinsight.example.net:32766", "10.1.2.3:9000"}},
		{d, "report-format", []string{"v2.0"}},
		{d, "report-interval", []string{"500ms"}},
		{d, "switch-id", []string{"192.0.2.7"}},
		{d, "uplink", []string{"eth0", "bond0"}},
		{d, "watchlist", []string{"/etc/podint/watchlist.yaml"}},
		{in, "cni-bin-dir", []string{"/host/var/lib/rancher/k3s/data/cni"}},
		{in, "cni-conf-dir", []string{"/host/var/lib/rancher/k3s/agent/etc/cni/net.d"}},
		{in, "plugin-config", []string{`{"attachMode":"tc","failPolicy":"ignore","root":"/"}`}},
		{in, "pod-side", []string{"false"}},
	} {
		if got := flag(tc.c, tc.flag); !slices.Equal(got, tc.want) {
			t.Errorf("%s --%s = %v, want %v", tc.c.Name, tc.flag, got, tc.want)
		}
	}
	if !slices.Contains(in.Args, "--read-by-multus") {
		t.Errorf("install-cni args %v lack --read-by-multus", in.Args)
	}
	if d.Image != "registry.example/podint:v9" {
		t.Errorf("image %s, want registry.example/podint:v9", d.Image)
	}
	if len(pod.InitContainers) != 0 {
		t.Errorf("with bpffs.mount=false, want no init container (nothing privileged), got %d", len(pod.InitContainers))
	}
	var cm struct {
		Rules []any `json:"rules"`
	}
	if err := yaml.UnmarshalStrict([]byte(find[corev1.ConfigMap](t, objs).Data["watchlist.yaml"]), &cm); err != nil || fmt.Sprint(cm.Rules) != fmt.Sprint(rules) {
		t.Errorf("watchlist ConfigMap rules %v (%v), want %v", cm.Rules, err, rules)
	}
}

func TestUninstallMode(t *testing.T) {
	pod := find[appsv1.DaemonSet](t, renderChart(t, map[string]any{"uninstall": true})).Spec.Template.Spec
	u := container(t, pod, "uninstall")
	if !slices.Equal(u.Command, []string{"podint-install", "uninstall"}) {
		t.Errorf("uninstall runs %v", u.Command)
	}
	for _, c := range pod.Containers {
		if c.Name == "podintd" || c.Name == "install-cni" {
			t.Errorf("uninstall mode still runs %s, which would put podint back", c.Name)
		}
	}
}

// values.schema.json turns mistakes into errors instead of silently ignored keys.
func TestChartRejectsBadValues(t *testing.T) {
	for name, values := range map[string]map[string]any{
		"misspelt key":          {"collector": []any{"a:1"}},
		"unknown format":        {"report": map[string]any{"format": "v1.0"}},
		"no collector":          {"collectors": []any{}},
		"relative dir":          {"cni": map[string]any{"binDir": "opt/cni/bin"}},
		"foreign plugin type":   {"cni": map[string]any{"pluginConfig": map[string]any{"type": "bridge"}}},
		"switch id not IPv4":    {"switchID": "node-1"},
		"port out of range":     {"http": map[string]any{"port": 70000}},
		"bad fail policy":       {"cni": map[string]any{"pluginConfig": map[string]any{"failPolicy": "maybe"}}},
		"pod side not a choice": {"cni": map[string]any{"podSide": "off"}},
		"podSide key quoted":    {"cni": map[string]any{"pluginConfig": map[string]any{"podSide": "false"}}},
		"interval not a value":  {"report": map[string]any{"interval": "soon"}},
	} {
		if _, err := render.Chart(chartDir, values); err == nil {
			t.Errorf("%s: the chart rendered %v without an error", name, values)
		}
	}
}

// With the collector enabled: a Deployment and a Service for it, podintd
// sends to the Service, serves its topology beyond loopback with the token,
// and the collector reads it on the daemon's port with the same token.
func TestCollectorEnabled(t *testing.T) {
	objs := renderChart(t, map[string]any{
		"collector": map[string]any{"enabled": true, "databaseSecret": "podint-db"},
	})
	ds := find[appsv1.DaemonSet](t, objs)
	d := container(t, ds.Spec.Template.Spec, "podintd")
	for _, tc := range []struct{ flag, want string }{
		{"collector", "podint-collector." + render.Namespace + ".svc:32766"},
		{"http-listen", "0.0.0.0:9765"},
		{"http-token-file", "/etc/podint-token/token"},
	} {
		if got := flag(d, tc.flag); !slices.Equal(got, []string{tc.want}) {
			t.Errorf("podintd --%s = %v, want [%s]", tc.flag, got, tc.want)
		}
	}
	dep := find[appsv1.Deployment](t, objs)
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil || sel.Matches(labels.Set(dep.Spec.Template.Labels)) {
		t.Errorf("the DaemonSet's selector %v matches the collector's pods %v", ds.Spec.Selector, dep.Spec.Template.Labels)
	}
	c := container(t, dep.Spec.Template.Spec, "collector")
	if got := flag(c, "node-topology-port"); !slices.Equal(got, []string{"9765"}) {
		t.Errorf("collector --node-topology-port = %v, want the daemon's 9765", got)
	}
	if len(c.Env) != 2 || c.Env[1].Name != "PODINT_DATABASE_URL" || c.Env[1].ValueFrom.SecretKeyRef == nil || c.Env[1].ValueFrom.SecretKeyRef.Name != "podint-db" {
		t.Errorf("collector env %v, want PODINT_DATABASE_URL from the Secret podint-db", c.Env)
	}
	// The Go runtime's soft memory limit follows the container's request.
	if len(c.Env) == 0 || c.Env[0].Name != "GOMEMLIMIT" || c.Env[0].ValueFrom.ResourceFieldRef == nil ||
		c.Env[0].ValueFrom.ResourceFieldRef.Resource != "requests.memory" || c.Resources.Requests.Memory().IsZero() {
		t.Errorf("collector env %v, resources %v: want GOMEMLIMIT from its memory request", c.Env, c.Resources)
	}
	svc := find[corev1.Service](t, objs)
	sel2 := labels.SelectorFromSet(svc.Spec.Selector)
	if !sel2.Matches(labels.Set(dep.Spec.Template.Labels)) {
		t.Errorf("the Service's selector %v does not select the collector's pods %v", svc.Spec.Selector, dep.Spec.Template.Labels)
	}
	ports := map[string]corev1.Protocol{}
	for _, p := range svc.Spec.Ports {
		ports[fmt.Sprint(p.Port)] = p.Protocol
	}
	if ports["32766"] != corev1.ProtocolUDP || ports["9090"] != corev1.ProtocolTCP {
		t.Errorf("Service ports %v, want 32766/UDP and 9090/TCP", ports)
	}
}

// tokenVolume is the Secret a pod spec mounts as the topology token.
func tokenVolume(t *testing.T, spec corev1.PodSpec) string {
	t.Helper()
	for _, v := range spec.Volumes {
		if v.Name == "topology-token" && v.Secret != nil {
			return v.Secret.SecretName
		}
	}
	t.Fatalf("no topology-token Secret volume in %v", spec.Volumes)
	return ""
}

// With the collector enabled and no Secret named, the chart makes the
// topology token's Secret (a random token) and both podintd and the
// collector mount it; a named Secret is used as it is and none is made.
func TestCollectorTopologyTokenSecret(t *testing.T) {
	objs := renderChart(t, map[string]any{"collector": map[string]any{"enabled": true}})
	sec := find[corev1.Secret](t, objs)
	if sec.Name != "podint-topology-token" || sec.Namespace != render.Namespace {
		t.Errorf("Secret %s/%s, want %s/podint-topology-token", sec.Namespace, sec.Name, render.Namespace)
	}
	if tok := sec.Data["token"]; len(tok) < 32 {
		t.Errorf("generated token %q: want at least 32 random characters", tok)
	}
	again := find[corev1.Secret](t, renderChart(t, map[string]any{"collector": map[string]any{"enabled": true}}))
	if string(again.Data["token"]) == string(sec.Data["token"]) {
		t.Errorf("two installs rendered the same token %q: it is not random", sec.Data["token"])
	}
	ds, dep := find[appsv1.DaemonSet](t, objs), find[appsv1.Deployment](t, objs)
	if d, c := tokenVolume(t, ds.Spec.Template.Spec), tokenVolume(t, dep.Spec.Template.Spec); d != sec.Name || c != sec.Name {
		t.Errorf("podintd mounts %q, the collector %q; want both the chart's %q", d, c, sec.Name)
	}

	objs = renderChart(t, map[string]any{"collector": map[string]any{"enabled": true, "tokenSecret": "my-token"}})
	for _, o := range objs {
		if _, ok := o.obj.(*corev1.Secret); ok {
			t.Errorf("with tokenSecret set the chart made %s", o.key)
		}
	}
	ds, dep = find[appsv1.DaemonSet](t, objs), find[appsv1.Deployment](t, objs)
	if d, c := tokenVolume(t, ds.Spec.Template.Spec), tokenVolume(t, dep.Spec.Template.Spec); d != "my-token" || c != "my-token" {
		t.Errorf("podintd mounts %q, the collector %q; want both my-token", d, c)
	}
	for _, o := range renderChart(t, nil) {
		if _, ok := o.obj.(*corev1.Secret); ok {
			t.Errorf("without the collector the chart made %s", o.key)
		}
	}
}

// clusterWith is a cluster holding objs, for the chart's lookup calls.
type clusterWith struct {
	client *dynamicfake.FakeDynamicClient
}

func (c clusterWith) GetClientFor(apiVersion, kind string) (dynamic.NamespaceableResourceInterface, bool, error) {
	if apiVersion != "v1" || kind != "Secret" {
		return nil, false, fmt.Errorf("no %s %s in the test cluster", apiVersion, kind)
	}
	return c.client.Resource(corev1.SchemeGroupVersion.WithResource("secrets")), true, nil
}

// An upgrade keeps the token the install generated: podintd and the
// collector, restarted one after the other, never disagree on it.
func TestCollectorTopologyTokenKeptOnUpgrade(t *testing.T) {
	existing := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{"name": "podint-topology-token", "namespace": render.Namespace},
		"data":     map[string]any{"token": "aW5zdGFsbGVkLXRva2Vu"}, // "installed-token"
	}}
	cluster := clusterWith{dynamicfake.NewSimpleDynamicClient(runtime.NewScheme(), existing)}
	docs, err := render.Upgrade(chartDir, map[string]any{"collector": map[string]any{"enabled": true}}, cluster)
	if err != nil {
		t.Fatal(err)
	}
	var yamls [][]byte
	for _, d := range docs {
		yamls = append(yamls, d.YAML)
	}
	sec := find[corev1.Secret](t, decodeAll(t, "upgrade", yamls))
	if got := string(sec.Data["token"]); got != "installed-token" {
		t.Errorf("upgrade rendered token %q, want the installed one kept", got)
	}
}
