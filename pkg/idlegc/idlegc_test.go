package idlegc

import (
	"runtime"
	"testing"
	"time"
)

// fake drives a Collector with a settable clock and heap.
type fake struct {
	now  time.Time
	heap Heap
	gcs  int
}

func newFake(t *testing.T) (*Collector, *fake) {
	t.Helper()
	f := &fake{now: time.Unix(1000, 0), heap: Heap{Goal: 300, Live: 200, Objects: 200}}
	c := New(Options{After: 250 * time.Millisecond})
	c.now = func() time.Time { return f.now }
	c.heap = func() Heap { return f.heap }
	c.collect = func() {
		f.gcs++
		f.heap = Heap{Goal: 300, Live: 200, Objects: 200}
	}
	c.idleSince.Store(f.now.UnixNano())
	return c, f
}

func TestCollectsOnlyWhenIdleAndPastSpent(t *testing.T) {
	c, f := newFake(t)
	f.heap.Objects = 260 // 60% of the headroom spent
	if c.check() {
		t.Fatal("collected before the server had been idle for After")
	}
	f.now = f.now.Add(249 * time.Millisecond)
	if c.check() {
		t.Fatal("collected 1ms before After")
	}
	c.Begin()
	f.now = f.now.Add(time.Second)
	if c.check() {
		t.Fatal("collected while work was in flight")
	}
	c.End()
	f.now = f.now.Add(100 * time.Millisecond)
	if c.check() {
		t.Fatal("collected 100ms after work ended")
	}
	f.now = f.now.Add(150 * time.Millisecond)
	if !c.check() || f.gcs != 1 {
		t.Fatalf("idle for After with 60%% of the headroom spent: collections = %d, want 1", f.gcs)
	}
	f.now = f.now.Add(time.Second)
	if c.check() {
		t.Fatal("collected again with nothing allocated since")
	}
	f.heap.Objects = 249 // 49%
	if c.check() {
		t.Fatal("collected with less than half the headroom spent")
	}
	f.heap.Objects = 250
	if !c.check() || c.Collections() != 2 {
		t.Fatalf("half the headroom spent: collections = %d, want 2", c.Collections())
	}
}

func TestTouchDefersCollection(t *testing.T) {
	c, f := newFake(t)
	f.heap.Objects = 290
	f.now = f.now.Add(time.Second)
	c.Touch()
	f.now = f.now.Add(200 * time.Millisecond)
	if c.check() {
		t.Fatal("collected 200ms after a Touch")
	}
	f.now = f.now.Add(50 * time.Millisecond)
	if !c.check() {
		t.Fatal("did not collect After past a Touch")
	}
}

func TestNilCollectorTracksNothing(t *testing.T) {
	var c *Collector
	c.Begin()
	c.End()
	c.Touch()
	if c.Collections() != 0 {
		t.Fatal("nil collector reported collections")
	}
}

// TestRunCollectsGarbage runs the real runtime: garbage past half the headroom (but short of the runtime's own trigger), then
// idleness, must end in a collection that Run started.
func TestRunCollectsGarbage(t *testing.T) {
	runtime.GC()
	h := ReadHeap()
	if h.Goal <= h.Live || h.Live == 0 {
		t.Fatalf("implausible heap figures after a collection: %+v", h)
	}
	c := New(Options{After: 20 * time.Millisecond})
	var keep [][]byte
	// 55%: the runtime's own trigger is never below 70% of the headroom.
	for h := ReadHeap(); float64(h.Objects)-float64(h.Live) < 0.55*float64(h.Goal-h.Live); h = ReadHeap() {
		keep = append(keep, make([]byte, 64<<10))
		if len(keep) > 1<<16 {
			t.Fatalf("allocated 4 GiB without reaching 55%% of the headroom: %+v", h)
		}
		keep = keep[len(keep)/2:] // garbage, and a little live data
	}
	runtime.KeepAlive(keep)
	stop := make(chan struct{})
	defer close(stop)
	go c.Run(stop)
	deadline := time.Now().Add(10 * time.Second)
	for c.Collections() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no idle collection within 10s; heap %+v", ReadHeap())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
