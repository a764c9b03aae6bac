package load

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/experimental"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/meshgen"
	"github.com/sextant-mesh/sextant/tools/meshgen/meshdir"
)

// Config sizes and shapes one run.
type Config struct {
	Spec meshgen.Spec
	// Isolated is the number of namespaces (the first ones) whose proxies import only
	// their own namespace (not with Spec.Sidecars, which scopes proxies its own way).
	// Changes are made in the last namespace. Which clients a change affects is derived
	// from the mesh's Sidecars (see scopes): those importing the changed host.
	Isolated int
	Clients  int
	Delta    bool
	// Changes are applied in order, Iterations times each.
	Changes    []ChangeKind
	Iterations int
	Server     ServerOptions
	// WorkDir holds the config directory (and the server log); "" makes a temporary one,
	// removed at the end.
	WorkDir string
	// ReadyTimeout bounds the wait for every client's initial config; ChangeTimeout the
	// wait for one change to reach every affected client.
	ReadyTimeout, ChangeTimeout time.Duration
	// Quiet is how long the server must send nothing and generate nothing for a change
	// (or the initial sync) to count as over; MaxQuiet bounds that wait.
	Quiet, MaxQuiet time.Duration
	// MaxReconnects bounds how often a client re-opens a broken stream.
	MaxReconnects int
	// Logf reports progress; nil is silent.
	Logf func(format string, args ...any) `json:"-"`
	// OnSynced, if set, runs once every client is synced and the server quiet, before the
	// first change (to start a profile of the changes alone).
	OnSynced func() `json:"-"`
}

// check refuses configurations that cannot measure what they say.
func (c *Config) check() error {
	if c.Isolated > 0 && c.Spec.Sidecars > 0 {
		return errors.New("Isolated and Spec.Sidecars both add namespace-wide Sidecars: use one")
	}
	if c.Server.Mode == "istiod" && slices.Contains(c.Changes, EndpointSliceEdit) {
		return errors.New("change eds edits an EndpointSlice, which the istiod oracle reads only once: use se-eds (with Spec.ServiceEntryServices)")
	}
	return nil
}

func (c *Config) defaults() {
	if c.Iterations <= 0 {
		c.Iterations = 1
	}
	if c.ReadyTimeout <= 0 {
		c.ReadyTimeout = 10 * time.Minute
	}
	if c.ChangeTimeout <= 0 {
		c.ChangeTimeout = 2 * time.Minute
	}
	if c.Quiet <= 0 {
		c.Quiet = time.Second
	}
	if c.MaxQuiet <= 0 {
		c.MaxQuiet = time.Minute
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
}

// Result is what one run measured.
type Result struct {
	Config Config
	// Server is the control plane measured: "sextant" or "istiod".
	Server string
	// Held is the mean number of resources a client holds, by type, once synced.
	Held [4]float64
	// InitialBytes is the mean size of the responses a client received to sync.
	InitialBytes float64
	// SyncTime is from opening the streams to the last client synced.
	SyncTime time.Duration
	// Server is the server process at start (before clients), synced (all clients
	// connected, quiet) and at the end; Driver is this process at the end and
	// DriverStart at the start of the run (this process may run several). In-process,
	// both are this process.
	ServerStart, ServerSynced, ServerEnd, Driver, DriverStart ProcStat
	Changes                                                   []*ChangeResult
	// LoadAvg is /proc/loadavg's 1-minute figure at the start and end of the run: the
	// machine's other work, for reading the figures.
	LoadAvg [2]float64
	// MachineCPU and Steal are the whole machine's busy and stolen CPU time during the
	// run; MachineCPU minus the server's and driver's CPU is what else ran meanwhile.
	MachineCPU, Steal time.Duration
	// Reconnects and StreamErrors are clients' broken streams (the first few errors).
	Reconnects   int
	StreamErrors []string
	// Refused counts streams the server refused for its new-stream rate limit (retried
	// by the clients; istiod refuses what it cannot admit within a second).
	Refused int
}

// ChangeResult aggregates the iterations of one kind of change.
type ChangeResult struct {
	Kind                 ChangeKind
	Iterations           int
	Affected, Unaffected int // clients, per iteration
	// Acked are, per affected client and iteration, the time from the file write to the
	// ACK of the first response reflecting the change; Received to its arrival. Sorted.
	Acked, Received []time.Duration
	// Ingest are, per iteration, the time from the file write to the server's first write
	// of the change to its config store, for servers that report it (the istiod oracle,
	// whose directory polling and re-parsing this is, not istiod's). Sorted.
	Ingest []time.Duration
	// AckedAfterStore are Acked counted from the iteration's config store write instead
	// of the file write, when the server reports it: the server's own share. Sorted.
	AckedAfterStore []time.Duration
	// NotConverged counts affected client-iterations without such a response in time.
	NotConverged int
	// Unexpected counts unaffected client-iterations that did get the change.
	Unexpected int
	// AffectedCounts and UnaffectedCounts are the responses received, summed over
	// iterations.
	AffectedCounts, UnaffectedCounts Counts
	// Server is the server's metrics delta and CPU time, summed over iterations.
	Server    Metrics
	ServerCPU time.Duration
	// Each are the iterations one by one, to see drift.
	Each []Iteration
}

// Iteration is one change: its median and slowest ACK, the slowest counted from the
// config store write, the server's CPU time for it, and the time from the file write to
// the server's last response or generation for it.
type Iteration struct {
	P50, Max, MaxAfterStore, ServerCPU, Wall time.Duration
}

// Run builds the mesh, starts (or reaches) the server, syncs Config.Clients clients and
// measures each change.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg.defaults()
	if err := cfg.check(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := cfg.WorkDir
	if work == "" {
		tmp, err := os.MkdirTemp("", "sextant-load-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		work = tmp
	}
	m := meshgen.Generate(cfg.Spec)
	namespaces := meshdir.Namespaces(m.Configs)
	isolated := namespaces[:min(max(cfg.Isolated, 0), len(namespaces))]
	configs := append(m.Configs, meshdir.IsolationSidecars(isolated)...)
	dir, err := meshdir.Write(filepath.Join(work, "mesh"), configs)
	if err != nil {
		return nil, err
	}
	if cfg.Server.Mode == "istiod" {
		// The oracle needs the case's proxy.yaml (it generates for that proxy in its other
		// modes); Sextant's loader would report it as a document it cannot use.
		p := meshdir.Proxy{Type: "sidecar", IP: m.ClientIP, Namespace: m.ClientNamespace, Pod: m.ClientPod, Labels: m.ClientLabels}
		if err := meshdir.WriteProxy(filepath.Join(dir.Path, "proxy.yaml"), p); err != nil {
			return nil, err
		}
	}
	ids, err := identities(configs, cfg.Clients)
	if err != nil {
		return nil, err
	}
	if cfg.Server.LogFile == "" {
		cfg.Server.LogFile = filepath.Join(work, "server.log")
	}
	cfg.Logf("mesh: %d objects in %s; starting server (%s)", len(configs), dir.Path, cfg.Server.Mode)
	srv, err := startServer(ctx, cfg.Server, dir.Path)
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	r := &Result{Config: cfg, Server: cfg.Server.Name()}
	r.LoadAvg[0] = loadAvg()
	r.DriverStart, _ = readProc(os.Getpid())
	busy0, steal0 := machineCPU()
	d := &driver{cfg: cfg, srv: srv, res: r, scopes: newScopes(configs, meshgen.RootNamespace)}
	if r.ServerStart, err = readProc(srv.PID()); err != nil {
		return nil, err
	}
	if err := d.connect(ctx, ids); err != nil {
		return r, err
	}
	defer d.closeConns()
	if cfg.OnSynced != nil {
		cfg.OnSynced()
	}
	p := newPlanner(dir, namespaces[len(namespaces)-1])
	for _, kind := range cfg.Changes {
		cr := &ChangeResult{Kind: kind, Server: Metrics{}}
		r.Changes = append(r.Changes, cr)
		for i := 0; i < cfg.Iterations; i++ {
			if err := d.measure(ctx, p, dir, cr); err != nil {
				return r, err
			}
		}
		sort.Slice(cr.Acked, func(i, j int) bool { return cr.Acked[i] < cr.Acked[j] })
		sort.Slice(cr.Received, func(i, j int) bool { return cr.Received[i] < cr.Received[j] })
		sort.Slice(cr.Ingest, func(i, j int) bool { return cr.Ingest[i] < cr.Ingest[j] })
		sort.Slice(cr.AckedAfterStore, func(i, j int) bool { return cr.AckedAfterStore[i] < cr.AckedAfterStore[j] })
	}
	r.ServerEnd, _ = readProc(srv.PID())
	r.Driver, _ = readProc(os.Getpid())
	r.LoadAvg[1] = loadAvg()
	busy1, steal1 := machineCPU()
	r.MachineCPU, r.Steal = busy1-busy0, steal1-steal0
	for _, c := range d.clients {
		_, _, rc, err := c.snapshot()
		r.Reconnects += rc
		r.Refused += c.refused()
		if err != nil && len(r.StreamErrors) < 5 {
			r.StreamErrors = append(r.StreamErrors, fmt.Sprintf("client %d: %v", c.Index, err))
		}
	}
	return r, nil
}

type driver struct {
	cfg    Config
	srv    Server
	res    *Result
	scopes *scopes
	// sidecars are, per client, the Sidecar scoping it (nil: none).
	sidecars []*config.Config
	clients  []*Client
	conns    []*grpc.ClientConn
	activity atomic.Int64
	wg       sync.WaitGroup
}

// Envoy's default HTTP/2 initial stream and connection windows.
const (
	envoyStreamWindow     = 16 << 20
	envoyConnectionWindow = 24 << 20
)

// connect opens every client's stream and waits until all are synced and the server is
// quiet.
func (d *driver) connect(ctx context.Context, ids []Identity) error {
	start := time.Now()
	for i, id := range ids {
		c, err := newClient(i, id, d.cfg.Delta, &d.activity)
		if err != nil {
			return err
		}
		conn, err := grpc.NewClient(d.srv.GRPCAddr(),
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(1<<30), grpc.ForceCodecV2(clientCodec{})),
			// Envoy's HTTP/2 flow-control windows (Http2ProtocolOptions defaults), which
			// its xDS stream uses: grpc-go's own 64 KiB would make a server wait for the
			// client's window updates within each large response.
			grpc.WithInitialWindowSize(envoyStreamWindow),
			grpc.WithInitialConnWindowSize(envoyConnectionWindow),
			experimental.WithBufferPool(clientBuffers{}))
		if err != nil {
			return err
		}
		d.clients, d.conns = append(d.clients, c), append(d.conns, conn)
		d.sidecars = append(d.sidecars, d.scopes.sidecar(id.Namespace, id.Labels))
		d.wg.Add(1)
		go func() { defer d.wg.Done(); c.Run(ctx, conn, d.cfg.MaxReconnects) }()
	}
	deadline := time.After(d.cfg.ReadyTimeout)
	for i, c := range d.clients {
		select {
		case <-c.Ready():
		case <-deadline:
			_, _, _, err := c.snapshot()
			return fmt.Errorf("%d of %d clients synced after %v (client %d: %v)", i, len(d.clients), d.cfg.ReadyTimeout, i, err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	d.res.SyncTime = time.Since(start)
	d.cfg.Logf("%d clients synced in %v", len(d.clients), d.res.SyncTime.Round(time.Millisecond))
	if _, err := d.waitQuiet(ctx, start); err != nil {
		return err
	}
	var err error
	if d.res.ServerSynced, err = readProc(d.srv.PID()); err != nil {
		return err
	}
	for _, c := range d.clients {
		total, held, _, _ := c.snapshot()
		for i := range held {
			d.res.Held[i] += float64(held[i]) / float64(len(d.clients))
		}
		d.res.InitialBytes += float64(total.Bytes()) / float64(len(d.clients))
	}
	return nil
}

func (d *driver) closeConns() {
	for _, c := range d.conns {
		c.Close()
	}
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
}

// measure applies one change and waits for every affected client to ACK it.
func (d *driver) measure(ctx context.Context, p *planner, dir *meshdir.Dir, cr *ChangeResult) error {
	ch, err := p.next(cr.Kind)
	if err != nil {
		return err
	}
	affected, want := affectedBy(d.sidecars, ch)
	// A buffer for each affected client's response of each type, as large as the largest
	// it received: the driver's first-time page faults stay out of the measurement.
	var sizes []int
	for i, c := range d.clients {
		if affected[i] {
			for _, n := range c.largestResponses() {
				if n > 0 {
					sizes = append(sizes, n)
				}
			}
		}
	}
	responses.reserve(sizes)
	notify := make(chan int, len(d.clients))
	for _, c := range d.clients {
		c.arm(ch.exp, notify)
	}
	metricsBefore, err := scrape(d.srv.MetricsURL())
	if err != nil {
		return err
	}
	procBefore, err := readProc(d.srv.PID())
	if err != nil {
		return err
	}
	driverGCs := gcCycles()
	driverBefore, err := readProc(os.Getpid())
	if err != nil {
		return err
	}
	t0 := time.Now()
	if err := dir.Update(ch.obj); err != nil {
		return err
	}
	got := d.waitAcks(ctx, notify, affected, want)
	driverGCs = gcCycles() - driverGCs
	driverAfter, err := readProc(os.Getpid())
	if err != nil {
		return err
	}
	last, err := d.waitQuiet(ctx, t0)
	if err != nil {
		return err
	}
	wall := last.Sub(t0)
	var stored time.Time
	if sw, ok := d.srv.(storeWriter); ok {
		if w, ok := sw.StoreWriteAfter(t0); ok {
			stored = w
			cr.Ingest = append(cr.Ingest, w.Sub(t0))
		}
	}
	metricsAfter, err := scrape(d.srv.MetricsURL())
	if err != nil {
		return err
	}
	procAfter, err := readProc(d.srv.PID())
	if err != nil {
		return err
	}
	cr.Iterations++
	cr.Affected, cr.Unaffected = want, len(d.clients)-want
	cr.ServerCPU += procAfter.CPU - procBefore.CPU
	for k, v := range metricsAfter.Sub(metricsBefore) {
		cr.Server[k] += v
	}
	var acked []time.Duration
	var maxAfterStore time.Duration
	defer func() {
		sort.Slice(acked, func(i, j int) bool { return acked[i] < acked[j] })
		cr.Each = append(cr.Each, Iteration{P50: Percentile(acked, 50), Max: Percentile(acked, 100), MaxAfterStore: maxAfterStore,
			ServerCPU: procAfter.CPU - procBefore.CPU, Wall: wall})
	}()
	for i, c := range d.clients {
		w := c.disarm()
		if !affected[i] {
			cr.UnaffectedCounts.Add(w.counts)
			if !w.matchedAt.IsZero() {
				cr.Unexpected++
			}
			continue
		}
		cr.AffectedCounts.Add(w.counts)
		if w.ackedAt.IsZero() {
			cr.NotConverged++
			continue
		}
		cr.Acked = append(cr.Acked, w.ackedAt.Sub(t0))
		acked = append(acked, w.ackedAt.Sub(t0))
		cr.Received = append(cr.Received, w.matchedAt.Sub(t0))
		if !stored.IsZero() {
			cr.AckedAfterStore = append(cr.AckedAfterStore, w.ackedAt.Sub(stored))
			maxAfterStore = max(maxAfterStore, w.ackedAt.Sub(stored))
		}
	}
	d.cfg.Logf("%s %s/%s: %d/%d affected clients acked in %v (slowest after the store write %v; server CPU %v, collections %v, page faults %d; while waiting, driver CPU %v, collections %d, page faults %d)",
		cr.Kind, ch.obj.Namespace, ch.obj.Name, got, want, time.Since(t0).Round(time.Millisecond), maxAfterStore.Round(time.Millisecond),
		(procAfter.CPU - procBefore.CPU).Round(time.Millisecond), metricsAfter["go_gc_duration_seconds_count"]-metricsBefore["go_gc_duration_seconds_count"],
		procAfter.MinorFaults-procBefore.MinorFaults, (driverAfter.CPU - driverBefore.CPU).Round(time.Millisecond), driverGCs, driverAfter.MinorFaults-driverBefore.MinorFaults)
	return nil
}

// affectedBy reports, per client (by the Sidecar scoping it), whether ch reaches it,
// and how many it reaches.
func affectedBy(sidecars []*config.Config, ch *change) ([]bool, int) {
	affected := make([]bool, len(sidecars))
	n := 0
	for i, sc := range sidecars {
		if affected[i] = imports(sc, ch.obj.Namespace, ch.host); affected[i] {
			n++
		}
	}
	return affected, n
}

// waitAcks counts affected clients' ACKs of the change until all are in or the change
// timeout passes, and returns how many came.
func (d *driver) waitAcks(ctx context.Context, notify <-chan int, affected []bool, want int) int {
	got := 0
	timeout := time.After(d.cfg.ChangeTimeout)
	for got < want {
		select {
		case i := <-notify:
			if affected[i] {
				got++
			}
		case <-timeout:
			return got
		case <-ctx.Done():
			return got
		}
	}
	return got
}

// waitQuiet waits until, for cfg.Quiet, no client has received anything and the server
// has generated nothing (when its metrics are readable), at least cfg.Quiet after since.
// It returns when the last activity was.
func (d *driver) waitQuiet(ctx context.Context, since time.Time) (time.Time, error) {
	deadline := time.Now().Add(d.cfg.MaxQuiet)
	lastGen, genChanged := -1.0, time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-tick.C:
		}
		now := time.Now()
		if m, err := scrape(d.srv.MetricsURL()); err == nil && m != nil {
			if g := generations(m); g != lastGen {
				lastGen, genChanged = g, now
			}
		}
		lastRecv := time.Unix(0, d.activity.Load())
		quietSince := latest(lastRecv, genChanged, since)
		if now.Sub(quietSince) >= d.cfg.Quiet {
			return quietSince, nil
		}
		if now.After(deadline) {
			return time.Time{}, errors.New("the server did not go quiet within " + d.cfg.MaxQuiet.String())
		}
	}
}

// generations is the number of (proxy, type) generations the server has run.
func generations(m Metrics) float64 {
	var n float64
	for _, v := range m.ByType("pilot_xds_push_time_count") {
		n += v
	}
	return n
}

func latest(ts ...time.Time) time.Time {
	var out time.Time
	for _, t := range ts {
		if t.After(out) {
			out = t
		}
	}
	return out
}
