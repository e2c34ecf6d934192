package main

import (
	"sync"
)

// cleanupStack holds what the benchmark created (namespaces, nodes, bpffs
// mounts, attached programs) so that it is removed however the run ends:
// in order when a stage finishes, all at once on an interrupt.
type cleanupStack struct {
	mu  sync.Mutex
	fns []*cleanupFn
}

type cleanupFn struct {
	once sync.Once
	fn   func()
}

// push registers fn and returns a function that runs it now (once).
func (c *cleanupStack) push(fn func()) (release func()) {
	f := &cleanupFn{fn: fn}
	c.mu.Lock()
	c.fns = append(c.fns, f)
	c.mu.Unlock()
	return func() { f.once.Do(f.fn) }
}

// runAll runs what is still registered, newest first.
func (c *cleanupStack) runAll() {
	c.mu.Lock()
	fns := c.fns
	c.fns = nil
	c.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i].once.Do(fns[i].fn)
	}
}
