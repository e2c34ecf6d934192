package install

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFindTarget(t *testing.T) {
	flannel := `{"name":"cbr0","plugins":[{"type":"flannel"}]}`
	calico := `{"name":"k8s-pod-network","plugins":[{"type":"calico"}]}`
	for _, tc := range []struct {
		name    string
		files   map[string]string
		want    string
		wantErr string
		noYet   bool // the error must wrap ErrNoConfig: podint waits
	}{
		{name: "empty dir", files: nil, noYet: true, wantErr: "no .conf, .conflist or .json file"},
		{name: "first in byte order", files: map[string]string{"10-flannel.conflist": flannel, "05-calico.conflist": calico, "99-loopback.conf": `{"name":"lo","type":"loopback"}`}, want: "05-calico.conflist"},
		{name: "upper case sorts first", files: map[string]string{"a.conflist": flannel, "Z.conflist": calico}, want: "Z.conflist"},
		{name: "thin Multus with inline delegates", files: map[string]string{
			"00-multus.conf":      `{"name":"multus-cni-network","type":"multus","delegates":[` + flannel + `]}`,
			"10-flannel.conflist": flannel,
		}, want: "10-flannel.conflist"},
		{name: "Multus before its delegate exists", files: map[string]string{
			"00-multus.conf": `{"name":"multus-cni-network","type":"multus","delegates":[` + flannel + `]}`,
		}, noYet: true, wantErr: "only Multus's 00-multus.conf"},
		{name: "thick Multus with a cluster network file", files: map[string]string{
			"00-multus.conflist":  `{"name":"multus-cni-network","plugins":[{"type":"multus-shim","clusterNetwork":"/host/etc/cni/net.d/20-calico.conflist"}]}`,
			"10-flannel.conflist": flannel,
			"20-calico.conflist":  calico,
		}, want: "20-calico.conflist"},
		{name: "Multus cluster network file not here yet", files: map[string]string{
			"00-multus.conflist": `{"name":"multus-cni-network","plugins":[{"type":"multus-shim","clusterNetwork":"/run/multus/10-ovn.conf"}]}`,
		}, noYet: true, wantErr: "set --cni-conf-dir"},
		{name: "Multus cluster network directory", files: map[string]string{
			"00-multus.conf": `{"name":"multus-cni-network","type":"multus","clusterNetwork":"/run/multus/cni/net.d"}`,
		}, wantErr: "set --cni-conf-dir to that directory"},
		{name: "Multus cluster network by name", files: map[string]string{
			"00-multus.conf":      `{"name":"multus-cni-network","type":"multus","clusterNetwork":"k8s-pod-network"}`,
			"10-flannel.conflist": flannel,
			"20-calico.conflist":  calico,
		}, want: "20-calico.conflist"},
		{name: "Multus cluster network is a NetworkAttachmentDefinition", files: map[string]string{
			"00-multus.conf":      `{"name":"multus-cni-network","type":"multus","clusterNetwork":"default-net"}`,
			"10-flannel.conflist": flannel,
		}, noYet: true, wantErr: "NetworkAttachmentDefinition"},
		{name: "broken active file", files: map[string]string{"10-a.conflist": `{"name":`, "20-b.conflist": flannel}, wantErr: "10-a.conflist:1:9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := newTestInstaller(t)
			for n, d := range tc.files {
				writeFile(t, in.ConfDir, n, d)
			}
			names, err := configNames(in.ConfDir)
			if err != nil {
				t.Fatal(err)
			}
			got, err := findTarget(names, in.read)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || errors.Is(err, ErrNoConfig) != tc.noYet {
					t.Fatalf("findTarget = %+v, %v; want an error containing %q (waiting: %v)", got, err, tc.wantErr, tc.noYet)
				}
				return
			}
			if err != nil || got.File != tc.want || got.Active != names[0] {
				t.Fatalf("findTarget = %+v, %v; want file %s, active %s", got, err, tc.want, names[0])
			}
		})
	}
}

func TestRenameKeepsOrder(t *testing.T) {
	for _, tc := range []struct {
		names    []string
		old, new string
		want     bool
	}{
		{[]string{"10-a.conf", "99-lo.conf"}, "10-a.conf", "10-a.conflist", true},
		{[]string{"10-a.conf", "10-a.conf.json"}, "10-a.conf", "10-a.conflist", false},
		{[]string{"10-a.json", "10-a.d.conf"}, "10-a.json", "10-a.conflist", false},
		{[]string{"10-a.conf", "10-a.conflist"}, "10-a.conf", "10-a.conflist", true},
	} {
		if got := renameKeepsOrder(tc.names, tc.old, tc.new); got != tc.want {
			t.Errorf("renameKeepsOrder(%v, %s, %s) = %v, want %v", tc.names, tc.old, tc.new, got, tc.want)
		}
	}
}

func TestInsertRefusesConversionThatChangesTheActiveConfig(t *testing.T) {
	in := newTestInstaller(t)
	writeFile(t, in.ConfDir, "10-a.conf", `{"name":"a","type":"bridge"}`)
	writeFile(t, in.ConfDir, "10-a.conf.json", `{"name":"other","type":"ptp"}`)
	_, err := in.Insert()
	var ce *ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "take over") {
		t.Fatalf("Insert error = %v, want a ConfigError: 10-a.conflist would sort after 10-a.conf.json", err)
	}
	assertFile(t, in.ConfDir, "10-a.conf", `{"name":"a","type":"bridge"}`)
}

func TestInsertRefusesSymlink(t *testing.T) {
	in := newTestInstaller(t)
	writeFile(t, in.ConfDir, "real.txt", `{"name":"a","plugins":[{"type":"bridge"}]}`)
	symlink(t, "real.txt", in.ConfDir, "10-a.conflist")
	_, err := in.Insert()
	if err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("Insert error = %v, want one about the symbolic link", err)
	}
	assertFile(t, in.ConfDir, "real.txt", `{"name":"a","plugins":[{"type":"bridge"}]}`)
}

// When the primary wrote its single-plugin file again after podint converted
// it, uninstall keeps the primary's newer file and drops podint's conflist.
func TestUninstallKeepsNewerPrimaryFile(t *testing.T) {
	in := newTestInstaller(t)
	writeFile(t, in.ConfDir, "10-a.conf", `{"name":"a","type":"bridge"}`)
	if _, err := in.Insert(); err != nil {
		t.Fatal(err)
	}
	newer := `{"name":"a","type":"bridge","mtu":9000}`
	writeFile(t, in.ConfDir, "10-a.conf", newer)
	if err := in.Uninstall(); err != nil {
		t.Fatal(err)
	}
	assertFile(t, in.ConfDir, "10-a.conf", newer)
	if fileExists(in.ConfDir + "/10-a.conflist") {
		t.Errorf("podint's 10-a.conflist is still there after uninstall")
	}
}

// A broken file cannot run podint, so it does not stop uninstall, and it is
// left as it is.
func TestUninstallSkipsBrokenFiles(t *testing.T) {
	in := newTestInstaller(t)
	writeFile(t, in.ConfDir, "10-a.conflist", `{"name":"a","plugins":[{"type":"bridge"}]}`)
	if err := in.CopyBinary(); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Insert(); err != nil {
		t.Fatal(err)
	}
	writeFile(t, in.ConfDir, "20-broken.conflist", `{"name":`)
	if err := in.Uninstall(); err != nil {
		t.Fatal(err)
	}
	assertFile(t, in.ConfDir, "10-a.conflist", `{"name":"a","plugins":[{"type":"bridge"}]}`)
	assertFile(t, in.ConfDir, "20-broken.conflist", `{"name":`)
	if fileExists(in.BinDir + "/" + PluginType) {
		t.Errorf("plugin binary still installed")
	}
}

func ExampleInsert() {
	e, _ := NewEntry([]byte(`{"failPolicy":"ignore"}`))
	edit, _ := Insert("10-flannel.conflist", []byte(`{"name":"cbr0","plugins":[{"type":"flannel"}]}`), e)
	fmt.Println(string(edit.Data))
	// Output: {"name":"cbr0","plugins":[{"type":"flannel"},{"type":"podint","failPolicy":"ignore"}]}
}

// A single-plugin file that Multus reads becomes a conflist under its own
// name; when Multus goes away and the runtime reads the file itself, it gets
// the .conflist name runtimes need.
func TestInPlaceConversionMovesWhenMultusGoes(t *testing.T) {
	in := newTestInstaller(t)
	ovn := `{"name":"ovn-kubernetes","type":"ovn-k8s-cni-overlay"}` + "\n"
	writeFile(t, in.ConfDir, "00-multus.conf", `{"name":"multus-cni-network","type":"multus","clusterNetwork":"ovn-kubernetes"}`)
	writeFile(t, in.ConfDir, "10-ovn.conf", ovn)
	if _, err := in.Insert(); err != nil {
		t.Fatal(err)
	}
	if !hasPodint(in.ConfDir, "10-ovn.conf")() {
		t.Fatal("podint not chained into 10-ovn.conf in place")
	}
	if err := os.Remove(filepath.Join(in.ConfDir, "00-multus.conf")); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Insert(); err != nil {
		t.Fatal(err)
	}
	if fileExists(filepath.Join(in.ConfDir, "10-ovn.conf")) || !hasPodint(in.ConfDir, "10-ovn.conflist")() {
		t.Fatal("after Multus went, want podint in 10-ovn.conflist and no 10-ovn.conf")
	}
	if err := in.Uninstall(); err != nil {
		t.Fatal(err)
	}
	assertFile(t, in.ConfDir, "10-ovn.conf", ovn)
}

func TestReadByMultusKeepsNames(t *testing.T) {
	in := newTestInstaller(t)
	in.ReadByMultus = true
	writeFile(t, in.ConfDir, "10-ovn.conf", `{"name":"ovn-kubernetes","type":"ovn-k8s-cni-overlay"}`)
	if _, err := in.Insert(); err != nil {
		t.Fatal(err)
	}
	if !hasPodint(in.ConfDir, "10-ovn.conf")() || fileExists(filepath.Join(in.ConfDir, "10-ovn.conflist")) {
		t.Fatal("with ReadByMultus, want podint chained into 10-ovn.conf under its own name")
	}
}
