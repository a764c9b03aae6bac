package debounce

import (
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

type pushed struct {
	req    *model.PushRequest
	events int
}

type harness struct {
	t      *testing.T
	clock  *clocktesting.FakeClock
	d      *Debouncer
	pushes chan pushed
	// release, when non-nil, holds every push until a value is received.
	release chan struct{}
}

func newHarness(t *testing.T, opts Options, hold bool) *harness {
	h := &harness{t: t, clock: clocktesting.NewFakeClock(time.Unix(1000, 0)), pushes: make(chan pushed, 100)}
	if hold {
		h.release = make(chan struct{})
	}
	h.d = New(opts, func(r *model.PushRequest, n int) {
		h.pushes <- pushed{r, n}
		if h.release != nil {
			<-h.release
		}
	}, h.clock)
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	go h.d.Run(stop)
	return h
}

// settle waits until the debounce loop is parked on a timer.
func (h *harness) settle() {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !h.clock.HasWaiters() {
		if time.Now().After(deadline) {
			h.t.Fatal("debouncer never armed its timer")
		}
		time.Sleep(time.Millisecond)
	}
}

func (h *harness) step(d time.Duration) {
	h.settle()
	h.clock.Step(d)
}

func (h *harness) expectPush() pushed {
	h.t.Helper()
	select {
	case p := <-h.pushes:
		return p
	case <-time.After(5 * time.Second):
		h.t.Fatal("no push")
		return pushed{}
	}
}

func (h *harness) expectNoPush() {
	h.t.Helper()
	select {
	case p := <-h.pushes:
		h.t.Fatalf("unexpected push of %d events", p.events)
	case <-time.After(50 * time.Millisecond):
	}
}

func key(kind config.Kind, name string) config.Key {
	return config.Key{Kind: kind, Namespace: "default", Name: name}
}

func req(full bool, keys ...config.Key) *model.PushRequest {
	r := &model.PushRequest{Full: full, ConfigsUpdated: map[config.Key]struct{}{}}
	for _, k := range keys {
		r.ConfigsUpdated[k] = struct{}{}
	}
	return r
}

var opts = Options{After: 100 * time.Millisecond, Max: time.Second, EDSDebounce: true}

func TestQuietPeriodMergesABurst(t *testing.T) {
	h := newHarness(t, opts, false)
	h.d.Enqueue(req(true, key(schema.VirtualService, "a")))
	h.step(60 * time.Millisecond)
	h.d.Enqueue(req(true, key(schema.DestinationRule, "b")))
	h.step(60 * time.Millisecond) // 60ms since the last change: not quiet yet
	h.expectNoPush()
	h.step(40 * time.Millisecond) // now 100ms quiet
	p := h.expectPush()
	if p.events != 2 || len(p.req.ConfigsUpdated) != 2 || !p.req.Full {
		t.Errorf("push = %d events, %v full=%v; want both changes merged", p.events, p.req.ConfigsUpdated, p.req.Full)
	}
}

func TestMaxBoundsAContinuousStream(t *testing.T) {
	h := newHarness(t, opts, false)
	// A change every 50ms never leaves 100ms of quiet; Max (1s) forces the push.
	for i := 0; i < 19; i++ {
		h.d.Enqueue(req(true, key(schema.VirtualService, "a")))
		h.step(50 * time.Millisecond)
		h.expectNoPush()
	}
	h.d.Enqueue(req(true, key(schema.VirtualService, "a")))
	h.step(50 * time.Millisecond)
	if p := h.expectPush(); p.events != 20 {
		t.Errorf("push merged %d events, want 20", p.events)
	}
}

func TestEndpointRequestsBypassWhenEDSDebounceIsOff(t *testing.T) {
	o := opts
	o.EDSDebounce = false
	h := newHarness(t, o, false)
	h.d.Enqueue(req(false, key(schema.EndpointSlice, "reviews-abc")))
	p := h.expectPush() // no clock step needed
	if p.req.Full || !p.req.OnlyEndpoints() {
		t.Errorf("push = %+v, want the endpoint-only request as is", p.req)
	}
	// Full requests are still debounced.
	h.d.Enqueue(req(true, key(schema.VirtualService, "a")))
	h.expectNoPush()
	h.step(100 * time.Millisecond)
	h.expectPush()
}

func TestEndpointRequestsAreDebouncedByDefault(t *testing.T) {
	h := newHarness(t, opts, false)
	h.d.Enqueue(req(false, key(schema.EndpointSlice, "reviews-abc")))
	h.expectNoPush()
	h.step(100 * time.Millisecond)
	if p := h.expectPush(); p.req.Full {
		t.Error("merged endpoint-only request became full")
	}
}

func TestOnePushAtATime(t *testing.T) {
	h := newHarness(t, opts, true)
	h.d.Enqueue(req(true, key(schema.VirtualService, "a")))
	h.step(100 * time.Millisecond)
	h.expectPush() // held in flight
	h.d.Enqueue(req(true, key(schema.VirtualService, "b")))
	h.d.Enqueue(req(false, key(schema.EndpointSlice, "c")))
	h.clock.Step(time.Second) // long past due, but the first push has not finished
	h.expectNoPush()
	h.release <- struct{}{}
	p := h.expectPush()
	if p.events != 2 || !p.req.Full || len(p.req.ConfigsUpdated) != 2 {
		t.Errorf("second push = %d events %v, want b and c merged, full", p.events, p.req.ConfigsUpdated)
	}
	h.release <- struct{}{}
}

func TestMergeKeepsFullPushMeaningEverything(t *testing.T) {
	all := &model.PushRequest{Full: true}
	one := req(true, key(schema.VirtualService, "a"))
	if m := all.Merge(one); len(m.ConfigsUpdated) != 0 || !m.Full {
		t.Errorf("merge = %+v, want a full push of everything", m)
	}
	start := time.Unix(5, 0)
	a, b := &model.PushRequest{Start: start.Add(time.Second)}, &model.PushRequest{Start: start}
	if m := a.Merge(b); !m.Start.Equal(start) {
		t.Errorf("start = %v, want the earlier %v", m.Start, start)
	}
}
