// Package idlegc starts garbage collections while a server is idle, so that the
// collection its next burst of work would have triggered runs before that burst instead
// of during it.
//
// Go collects when the heap reaches its goal (GOGC past the data live after the last
// collection). A control plane's work comes in bursts, a push after each config change,
// and a collection that starts inside one competes with it for the CPU: on a large mesh
// marking the heap takes longer than the push. When the server has been idle for a
// while and more than a fraction of the heap's headroom is already spent, the Collector
// collects then: the next burst starts with the whole headroom.
package idlegc

import (
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
)

// Options tune a Collector.
type Options struct {
	// After is how long no work may have run before the server counts as idle.
	After time.Duration
	// Spent is the fraction of the headroom (the goal less the live heap) that must be
	// allocated since the last collection for an idle collection to start; 0.5 unless
	// set. Lower collects more often.
	Spent float64
	Log   logr.Logger
}

// Collector tracks in-flight work and collects when there has been none for a while.
// A nil *Collector tracks nothing, so callers need not check for one.
type Collector struct {
	opts Options
	// busy counts work in flight; idleSince is when the last of it ended (unix ns).
	busy      atomic.Int64
	idleSince atomic.Int64
	collected atomic.Int64

	// Replaced in tests.
	now     func() time.Time
	heap    func() Heap
	collect func()
}

// Heap is what decides an idle collection, in bytes.
type Heap struct {
	// Goal is the heap size at which the runtime collects next.
	Goal uint64
	// Live is the data marked live by the last collection.
	Live uint64
	// Objects is the heap's objects now: the live ones and those allocated since.
	Objects uint64
}

// New returns a Collector; Run starts it.
func New(opts Options) *Collector {
	if opts.Spent <= 0 || opts.Spent > 1 {
		opts.Spent = 0.5
	}
	c := &Collector{opts: opts, now: time.Now, heap: ReadHeap, collect: runtime.GC}
	c.idleSince.Store(c.now().UnixNano())
	return c
}

// Begin marks the start of a piece of work; End its end. Work between them is never
// overlapped by an idle collection started after Begin.
func (c *Collector) Begin() {
	if c != nil {
		c.busy.Add(1)
	}
}

// End marks the end of work started by Begin.
func (c *Collector) End() {
	if c == nil {
		return
	}
	c.idleSince.Store(c.now().UnixNano())
	c.busy.Add(-1)
}

// Touch marks work that is about to come, such as a config change waiting for its push:
// the server counts as busy for After from now.
func (c *Collector) Touch() {
	if c != nil {
		c.idleSince.Store(c.now().UnixNano())
	}
}

// Busy is how much work is in flight.
func (c *Collector) Busy() int64 {
	if c == nil {
		return 0
	}
	return c.busy.Load()
}

// Collections is how many idle collections have run.
func (c *Collector) Collections() int64 {
	if c == nil {
		return 0
	}
	return c.collected.Load()
}

// Run checks for idleness until stop closes.
func (c *Collector) Run(stop <-chan struct{}) {
	t := time.NewTicker(max(c.opts.After/2, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			c.check()
		}
	}
}

// check collects if the server is idle and the heap past the threshold, and reports
// whether it did.
func (c *Collector) check() bool {
	if c.busy.Load() > 0 || c.now().Sub(time.Unix(0, c.idleSince.Load())) < c.opts.After {
		return false
	}
	h := c.heap()
	if h.Goal <= h.Live || h.Objects <= h.Live {
		return false
	}
	if float64(h.Objects-h.Live) < c.opts.Spent*float64(h.Goal-h.Live) {
		return false
	}
	start := c.now()
	c.collect()
	c.collected.Add(1)
	after := c.heap()
	c.opts.Log.V(1).Info("idle collection", "heapMiB", h.Objects>>20, "liveMiB", after.Live>>20, "goalMiB", h.Goal>>20,
		"took", c.now().Sub(start).Round(time.Millisecond))
	return true
}

// heapSamples are the runtime metrics Heap is read from.
var heapSamples = []string{"/gc/heap/goal:bytes", "/gc/heap/live:bytes", "/memory/classes/heap/objects:bytes"}

// ReadHeap reads the runtime's heap figures (no stop-the-world).
func ReadHeap() Heap {
	s := make([]metrics.Sample, len(heapSamples))
	for i, name := range heapSamples {
		s[i].Name = name
	}
	metrics.Read(s)
	return Heap{Goal: s[0].Value.Uint64(), Live: s[1].Value.Uint64(), Objects: s[2].Value.Uint64()}
}
