package debounce

import (
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
)

// Options are istiod's debounce settings.
type Options struct {
	// After is the quiet period: PILOT_DEBOUNCE_AFTER (100ms).
	After time.Duration
	// Max bounds how long a burst is held: PILOT_DEBOUNCE_MAX (10s).
	Max time.Duration
	// EDSDebounce debounces endpoint-only requests too: PILOT_ENABLE_EDS_DEBOUNCE (true).
	EDSDebounce bool
}

// DefaultOptions are istiod's defaults.
func DefaultOptions() Options {
	return Options{After: 100 * time.Millisecond, Max: 10 * time.Second, EDSDebounce: true}
}

// PushFunc performs a push. Debounced pushes are serialized: the next starts only after
// the previous PushFunc returned.
type PushFunc func(req *model.PushRequest, debouncedEvents int)

// Debouncer merges requests and calls PushFunc.
type Debouncer struct {
	opts  Options
	clock clock.WithTicker
	push  PushFunc

	mu sync.Mutex
	// pending is the merged request not yet pushed, with its event count, the time the
	// burst started and the time of its last event.
	pending    *model.PushRequest
	events     int
	burstStart time.Time
	lastEvent  time.Time

	notify chan struct{}
}

// New returns a Debouncer; call Run to start it.
func New(opts Options, push PushFunc, clk clock.WithTicker) *Debouncer {
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &Debouncer{opts: opts, clock: clk, push: push, notify: make(chan struct{}, 1)}
}

// Enqueue adds a request. It never blocks.
func (d *Debouncer) Enqueue(r *model.PushRequest) {
	if !d.opts.EDSDebounce && r.OnlyEndpoints() {
		go d.push(r, 1)
		return
	}
	now := d.clock.Now()
	d.mu.Lock()
	if d.events == 0 {
		d.burstStart = now
	}
	d.events++
	d.lastEvent = now
	d.pending = d.pending.Merge(r)
	d.mu.Unlock()
	select {
	case d.notify <- struct{}{}:
	default:
	}
}

// Run debounces until stop is closed.
func (d *Debouncer) Run(stop <-chan struct{}) {
	var timer clock.Timer
	var timerC <-chan time.Time
	arm := func(after time.Duration) {
		if timer != nil {
			timer.Stop()
		}
		timer = d.clock.NewTimer(after)
		timerC = timer.C()
	}
	free := true
	done := make(chan struct{}, 1)
	// check pushes if the burst is due, or re-arms the timer for when it will be.
	check := func() {
		d.mu.Lock()
		if d.pending == nil {
			d.mu.Unlock()
			timerC = nil
			return
		}
		now := d.clock.Now()
		quiet, held := now.Sub(d.lastEvent), now.Sub(d.burstStart)
		if quiet < d.opts.After && held < d.opts.Max {
			d.mu.Unlock()
			wait := d.opts.After - quiet
			if rest := d.opts.Max - held; rest < wait {
				wait = rest
			}
			arm(wait)
			return
		}
		req, events := d.pending, d.events
		d.pending, d.events = nil, 0
		d.mu.Unlock()
		timerC = nil
		free = false
		go func() {
			d.push(req, events)
			done <- struct{}{}
		}()
	}
	for {
		select {
		case <-d.notify:
			if timerC == nil && free {
				arm(d.opts.After)
			}
		case <-timerC:
			timerC = nil
			if free {
				check()
			}
		case <-done:
			free = true
			check()
		case <-stop:
			if timer != nil {
				timer.Stop()
			}
			return
		}
	}
}
