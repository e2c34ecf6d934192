// Package nstest gives a test a network namespace of its own.
package nstest

import (
	"os"
	"runtime"
	"testing"

	"github.com/vishvananda/netns"
)

// EnterFresh moves the test's goroutine, locked to its thread, into a
// fresh network namespace, and back when the test ends; it skips the test
// when not run as root. The handle it returns, to come back to the
// namespace, is closed when the test ends.
func EnterFresh(t *testing.T) netns.NsHandle {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces")
	}
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := netns.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// A thread that cannot go back stays locked and dies with the test.
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		fresh.Close()
		orig.Close()
	})
	return fresh
}
