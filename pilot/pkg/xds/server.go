package xds

import (
	"context"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/go-logr/logr"
	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	"k8s.io/utils/clock"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pilot/pkg/xds/debounce"
	"github.com/sextant-mesh/sextant/pkg/idlegc"
)

// Options tune the server; bootstrap fills them from istiod's env vars.
type Options struct {
	Debounce debounce.Options
	// PushThrottle bounds concurrent pushes (PILOT_PUSH_THROTTLE); 0 means
	// min(15+5*GOMAXPROCS, 100).
	PushThrottle int
	// RequestsPerSecond bounds new streams per second (PILOT_MAX_REQUESTS_PER_SECOND); 0
	// means min(15+5*GOMAXPROCS, 100).
	RequestsPerSecond float64
	// Generations bounds how many proxies' resources are generated and encoded at once
	// (requests and pushes together); 0 means 2*GOMAXPROCS. Generation is CPU-bound, so
	// more only adds transient memory: at 1,000 connecting proxies unbounded generation
	// held gigabytes of garbage at once.
	Generations int
	// SendTimeout is how long one response may take to be accepted by a stream before the
	// connection is closed as too slow; 0 disables it.
	SendTimeout time.Duration
	// Model are the PushContext options.
	Model model.Options
	// ControlPlaneID identifies this instance (POD_NAME) in responses' control_plane.
	ControlPlaneID string
	// Idle is told when pushes and requests run, to collect garbage between them (nil:
	// no idle collections).
	Idle  *idlegc.Collector
	Clock clock.WithTicker
	Log   logr.Logger
}

func (o *Options) defaults() {
	procs := runtime.GOMAXPROCS(0)
	if o.PushThrottle <= 0 {
		o.PushThrottle = min(15+5*procs, 100)
	}
	if o.Generations <= 0 {
		o.Generations = 2 * procs
	}
	if o.RequestsPerSecond <= 0 {
		o.RequestsPerSecond = float64(min(15+5*procs, 100))
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Model.DomainSuffix == "" {
		o.Model = model.DefaultOptions()
	}
	if o.Debounce == (debounce.Options{}) {
		o.Debounce = debounce.DefaultOptions()
	}
}

// Server is the ADS server. It owns the current PushContext and the connections.
type Server struct {
	discoveryv3.UnimplementedAggregatedDiscoveryServiceServer

	opts       Options
	log        logr.Logger
	store      *model.Store
	generators map[string]Generator
	debouncer  *debounce.Debouncer
	throttle   chan struct{}
	generating chan struct{}
	limiter    *rate.Limiter
	nonces     nonceSource
	metrics    *Metrics

	meshMu sync.RWMutex
	mesh   *meshv1alpha1.MeshConfig

	push        atomic.Pointer[model.PushContext]
	pushVersion atomic.Uint64

	connMu sync.RWMutex
	conns  map[string]*Connection
	connID atomic.Uint64
}

// NewServer returns a server over store, generating with generators (by type URL).
func NewServer(store *model.Store, mesh *meshv1alpha1.MeshConfig, generators map[string]Generator, opts Options) *Server {
	opts.defaults()
	s := &Server{
		opts:       opts,
		log:        opts.Log,
		store:      store,
		mesh:       mesh,
		generators: generators,
		throttle:   make(chan struct{}, opts.PushThrottle),
		generating: make(chan struct{}, opts.Generations),
		limiter:    rate.NewLimiter(rate.Limit(opts.RequestsPerSecond), 1),
		conns:      map[string]*Connection{},
		metrics:    NewMetrics(),
	}
	s.debouncer = debounce.New(opts.Debounce, s.debouncedPush, opts.Clock)
	s.push.Store(s.buildPushContext(nil))
	return s
}

// Register adds the ADS service to a gRPC server.
func (s *Server) Register(g *grpc.Server) {
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(g, s)
}

// Start runs the debouncer until stop is closed.
func (s *Server) Start(stop <-chan struct{}) { go s.debouncer.Run(stop) }

// Metrics returns the server's metrics.
func (s *Server) Metrics() *Metrics { return s.metrics }

// PushContext returns the current snapshot.
func (s *Server) PushContext() *model.PushContext { return s.push.Load() }

// Mesh returns the current mesh config.
func (s *Server) Mesh() *meshv1alpha1.MeshConfig {
	s.meshMu.RLock()
	defer s.meshMu.RUnlock()
	return s.mesh
}

// SetMesh replaces the mesh config and triggers a full push.
func (s *Server) SetMesh(m *meshv1alpha1.MeshConfig) {
	s.meshMu.Lock()
	s.mesh = m
	s.meshMu.Unlock()
	s.ConfigUpdate(&model.PushRequest{Full: true, Reason: map[model.TriggerReason]int{model.GlobalUpdate: 1}})
}

// ConfigUpdate reports changed configuration; it never blocks.
func (s *Server) ConfigUpdate(req *model.PushRequest) {
	if req.Start.IsZero() {
		req.Start = s.opts.Clock.Now()
	}
	// The push is coming: no idle collection may start in the debounce window.
	s.opts.Idle.Touch()
	for r, n := range req.Reason {
		s.metrics.pushTriggers.WithLabelValues(string(r)).Add(float64(n))
	}
	s.debouncer.Enqueue(req)
}

// buildPushContext indexes the store: derived from the current snapshot when the request
// names what changed (only the indexes reading those kinds are rebuilt), from scratch on
// startup, mesh config changes and requests that name nothing.
func (s *Server) buildPushContext(req *model.PushRequest) *model.PushContext {
	start := s.opts.Clock.Now()
	var pc *model.PushContext
	if prev := s.push.Load(); prev != nil && req != nil && len(req.ConfigsUpdated) > 0 && prev.Mesh == s.Mesh() {
		pc = prev.Derive(s.store, req.ConfigsUpdated)
	} else {
		pc = model.NewPushContext(s.store, s.Mesh(), s.opts.Model)
	}
	s.metrics.pushContextInit.Observe(s.opts.Clock.Since(start).Seconds())
	s.metrics.services.Set(float64(len(pc.Services())))
	s.pushVersion.Add(1)
	return pc
}

// debouncedPush builds the next PushContext and queues the push on the connections it
// may affect.
func (s *Server) debouncedPush(req *model.PushRequest, events int) {
	s.opts.Idle.Begin()
	defer s.opts.Idle.End()
	s.metrics.debounceTime.Observe(s.opts.Clock.Since(req.Start).Seconds())
	req.Push = s.buildPushContext(req)
	s.push.Store(req.Push)
	if hosts, endpointsOnly := req.Push.EndpointHosts(); hosts != nil && len(req.ConfigsUpdated) > 0 && !req.Forced {
		// What changed decides the push, as istiod does for ServiceEntry endpoint edits
		// (full -> EDS) and for endpoint changes that alter identities (EDS -> full).
		req.Full = !endpointsOnly
		if endpointsOnly {
			req.EndpointHosts = hosts
		}
	}
	if hosts, ok := req.Push.DestinationRuleHosts(); ok && req.Full && !req.Forced {
		req.EndpointHosts = hosts
	}
	// req as a full push, for proxies whose own config changed.
	full := sync.OnceValue(func() *model.PushRequest {
		cp := *req
		cp.Full, cp.EndpointHosts = true, nil
		return &cp
	})
	// Deciding may compute the proxies' new SidecarScopes: spread over the CPUs, each
	// connection queued as soon as its decision is made.
	conns := s.Connections()
	var next, queued atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(conns)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(len(conns)); i = next.Add(1) - 1 {
				c := conns[i]
				switch pushFor(c, req) {
				case model.FullPush:
					if req.Full {
						c.enqueue(req)
					} else {
						c.enqueue(full())
					}
					queued.Add(1)
				case model.EndpointsPush:
					c.enqueue(req)
					queued.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	s.log.V(1).Info("push", "full", req.Full, "configs", len(req.ConfigsUpdated), "events", events, "connections", queued.Load())
}

// Connections returns the current connections, sorted by ID.
func (s *Server) Connections() []*Connection {
	s.connMu.RLock()
	out := make([]*Connection, 0, len(s.conns))
	for _, c := range s.conns {
		out = append(out, c)
	}
	s.connMu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (s *Server) addConnection(c *Connection) {
	s.connMu.Lock()
	s.conns[c.ID] = c
	n := len(s.conns)
	s.connMu.Unlock()
	s.metrics.connections.Set(float64(n))
}

func (s *Server) removeConnection(c *Connection) {
	s.connMu.Lock()
	delete(s.conns, c.ID)
	n := len(s.conns)
	s.connMu.Unlock()
	s.metrics.connections.Set(float64(n))
}

// Close closes every stream (graceful shutdown: proxies reconnect elsewhere).
func (s *Server) Close() {
	for _, c := range s.Connections() {
		c.close("server shutting down")
	}
}

// waitForStreamSlot applies the new-stream rate limit.
func (s *Server) waitForStreamSlot(ctx context.Context) error {
	return s.limiter.Wait(ctx)
}

func (s *Server) nextConnectionID(proxyID string) string {
	return proxyID + "-" + strconv.FormatUint(s.connID.Add(1), 10)
}

func itoaVersion(v uint64) string { return strconv.FormatUint(v, 10) }

// AddGenerator registers (or replaces) the generator of a type. Call before serving.
func (s *Server) AddGenerator(typeURL string, g Generator) { s.generators[typeURL] = g }

// InitPushContext rebuilds the PushContext from the store without pushing: for startup,
// once the sources have synced and before streams are served.
func (s *Server) InitPushContext() { s.push.Store(s.buildPushContext(nil)) }
