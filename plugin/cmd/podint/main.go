// Command podint is the podint chained CNI plugin.
package main

import (
	"fmt"
	"os"

	"github.com/containernetworking/cni/pkg/skel"

	"github.com/podint/podint/plugin"
)

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "dev"

func main() {
	// The runtime never passes arguments; a person asking gets the version
	// (without CNI_COMMAND, skel prints it too, with the CNI versions).
	if len(os.Args) == 2 && (os.Args[1] == "--version" || os.Args[1] == "version") {
		fmt.Println("podint", Version)
		return
	}
	skel.PluginMainFuncs(plugin.Funcs, plugin.SupportedVersions, "podint "+Version+": INT probes for pods")
}
