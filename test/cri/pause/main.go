// Command pause is the sandbox ("pause") container of the node tests: it
// holds a pod's namespaces until the runtime stops it. Registries are
// unreachable where podint's tests run, so the image registry.k8s.io/pause
// is built here from this static binary (see cri.BuildPauseImage).
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	// As PID 1 of a pod with a shared PID namespace it reaps orphans.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGCHLD)
	go func() {
		for {
			var ws syscall.WaitStatus
			if _, err := syscall.Wait4(-1, &ws, 0, nil); err != nil {
				select {} // no children: nothing to reap until the next one
			}
		}
	}()
	<-sigs
}
