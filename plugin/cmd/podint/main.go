// Command podint is the podint chained CNI plugin.
package main

import (
	"github.com/containernetworking/cni/pkg/skel"

	"github.com/podint/podint/plugin"
)

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "dev"

func main() {
	skel.PluginMainFuncs(plugin.Funcs, plugin.SupportedVersions, "podint "+Version+": INT probes for pods")
}
