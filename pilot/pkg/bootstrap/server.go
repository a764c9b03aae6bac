package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	"k8s.io/client-go/rest"

	"github.com/sextant-mesh/sextant/pilot/pkg/config/file"
	"github.com/sextant-mesh/sextant/pilot/pkg/config/kube"
	"github.com/sextant-mesh/sextant/pilot/pkg/debug"
	"github.com/sextant-mesh/sextant/pilot/pkg/features"
	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/generate"
	"github.com/sextant-mesh/sextant/pilot/pkg/xds"
	"github.com/sextant-mesh/sextant/pilot/pkg/xds/debounce"
	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/mesh"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
	"github.com/sextant-mesh/sextant/pkg/idlegc"
	"github.com/sextant-mesh/sextant/pkg/log"
)

// Args are pilot-discovery's flags, with istiod's names.
type Args struct {
	GRPCAddr       string // --grpcAddr, plaintext xDS (:15010)
	HTTPAddr       string // --httpAddr, debug and readiness (:8080)
	MonitoringAddr string // --monitoringAddr, metrics (:15014)
	SecureGRPCAddr string // --secureGRPCAddr (:15012); TLS xDS needs the CA (not yet)
	HTTPSAddr      string // --httpsAddr (:15017); webhooks (not yet)
	Domain         string // --domain (cluster.local)
	ClusterID      string // --clusterID (Kubernetes)
	MeshConfigFile string // --meshConfig
	NetworksFile   string // --networksConfig
	ConfigDir      string // --configDir
	KubeConfig     string // --kubeconfig
	// KubernetesAPIQPS and KubernetesAPIBurst limit requests to the API server
	// (--kubernetesApiQPS 80, --kubernetesApiBurst 160).
	KubernetesAPIQPS   float32
	KubernetesAPIBurst int
	// Kube is the cluster to read (from --kubeconfig, KUBECONFIG or the in-cluster config;
	// see kube.RESTConfig); nil runs without one.
	Kube *rest.Config
	// KeepaliveMaxServerConnectionAge closes xDS connections after this age so proxies
	// rebalance across instances (--keepaliveMaxServerConnectionAge, 30m).
	KeepaliveMaxServerConnectionAge time.Duration
	// ShutdownDuration is how long graceful shutdown waits for streams (--shutdownDuration, 10s).
	ShutdownDuration time.Duration
	Log              log.Options
	Features         features.Features
}

// Server is a running Sextant.
type Server struct {
	args    Args
	logs    *log.Logs
	log     logr.Logger
	store   *model.Store
	xds     *xds.Server
	debug   *debug.Handler
	source  *file.Source
	kube    *kube.Source
	grpc    *grpc.Server
	http    []*http.Server
	addrs   map[string]string
	wg      sync.WaitGroup
	cancel  context.CancelFunc
	mesh    *meshv1alpha1.MeshConfig
	started time.Time
	idle    *idlegc.Collector
}

// configDirSettle is how long the config directory must be quiet before a burst of file
// events is read: long enough to take an editor's or `cp`'s several events for one file
// as one change, short next to the push debounce.
const configDirSettle = 10 * time.Millisecond

// New builds a server from args; Start runs it.
func New(args Args) (*Server, error) {
	logs, err := log.New(args.Log)
	if err != nil {
		return nil, err
	}
	meshConfig, err := loadMesh(args.MeshConfigFile)
	if err != nil {
		return nil, err
	}
	s := &Server{args: args, logs: logs, log: logs.Scope("default"), store: model.NewStoreFor(model.Options{DomainSuffix: args.Domain, ClusterID: args.ClusterID}, meshConfig.GetTrustDomain()), mesh: meshConfig, addrs: map[string]string{}}
	f := args.Features
	if f.IdleGCAfter > 0 {
		s.idle = idlegc.New(idlegc.Options{After: f.IdleGCAfter, Log: logs.Scope("gc")})
	}
	s.xds = xds.NewServer(s.store, meshConfig, generate.Generators(), xds.Options{
		Debounce:          debounce.Options{After: f.DebounceAfter, Max: f.DebounceMax, EDSDebounce: f.EnableEDSDebounce},
		PushThrottle:      f.PushThrottle,
		RequestsPerSecond: f.MaxRequestsPerSecond,
		SendTimeout:       f.XDSSendTimeout,
		Model:             model.Options{DomainSuffix: args.Domain, ClusterID: args.ClusterID},
		ControlPlaneID:    f.PodName,
		Idle:              s.idle,
		Log:               logs.Scope("ads"),
	})
	s.debug = debug.New(s.xds, s.store)
	s.debug.ConfigDump = configDump
	s.xds.AddGenerator(xds.SynczType, s.xds.SynczGenerator())
	s.xds.AddGenerator(xds.DebugType, xds.DebugGenerator(s.debug))
	if args.ConfigDir != "" {
		s.source = file.NewSource(args.ConfigDir, file.Options{Skip: []string{args.MeshConfigFile}}, s.store, s.configChanged, logs.Scope("config"))
	}
	if err := s.newKubeSource(meshConfig); err != nil {
		return nil, err
	}
	return s, nil
}

func loadMesh(path string) (*meshv1alpha1.MeshConfig, error) {
	if path == "" {
		return mesh.Default(), nil
	}
	m, err := mesh.Load(path)
	if err != nil {
		return nil, fmt.Errorf("mesh config: %w", err)
	}
	return m, nil
}

// configChanged turns a source's changed keys into a push request: endpoint-only changes
// are incremental (EDS) pushes, anything else full.
func (s *Server) configChanged(changed map[config.Key]struct{}) {
	req := &model.PushRequest{ConfigsUpdated: changed, Reason: map[model.TriggerReason]int{}}
	for k := range changed {
		switch k.Kind {
		case schema.EndpointSlice:
			req.Reason[model.EndpointUpdate]++
		case schema.Service, schema.ServiceEntry:
			req.Reason[model.ServiceUpdate]++
			req.Full = true
		default:
			req.Reason[model.ConfigUpdate]++
			req.Full = true
		}
	}
	s.xds.ConfigUpdate(req)
}

// Start loads config, opens the listeners and serves until ctx ends or Shutdown.
func (s *Server) Start(ctx context.Context) error {
	s.started = time.Now()
	ctx, s.cancel = context.WithCancel(ctx)
	if s.source != nil {
		changed, err := s.source.Sync()
		if err != nil {
			return fmt.Errorf("config dir: %w", err)
		}
		s.log.Info("config loaded", "dir", s.args.ConfigDir, "objects", len(changed), "problems", len(s.source.Problems()))
		s.wg.Add(1)
		go func() { defer s.wg.Done(); _ = s.source.Run(ctx, configDirSettle) }()
	}
	if err := s.startKubeSource(ctx); err != nil {
		return err
	}
	s.xds.InitPushContext()
	s.xds.Start(ctx.Done())
	if s.idle != nil {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.idle.Run(ctx.Done()) }()
	}
	if err := s.serveGRPC(); err != nil {
		return err
	}
	if err := s.serveHTTP(); err != nil {
		return err
	}
	s.debug.SetReady()
	s.log.Info("serving", "grpc", s.Addr("grpc"), "http", s.Addr("http"), "monitoring", s.Addr("monitoring"))
	return nil
}

// Addr returns the bound address of a listener ("grpc", "http", "monitoring").
func (s *Server) Addr(name string) string { return s.addrs[name] }

// writeBufferSize is the gRPC transport's write batch, pooled (grpc.SharedWriteBuffer).
const writeBufferSize = 256 << 10

func (s *Server) serveGRPC() error {
	lis, err := net.Listen("tcp", s.args.GRPCAddr)
	if err != nil {
		return fmt.Errorf("--grpcAddr: %w", err)
	}
	s.addrs["grpc"] = lis.Addr().String()
	s.grpc = grpc.NewServer(
		// A connection's write buffer is taken from a pool while it writes, not held for
		// its lifetime: thousands of proxies are idle between pushes, and a push writes
		// megabytes (a sidecar's clusters), batched into fewer, larger writes.
		grpc.SharedWriteBuffer(true),
		grpc.WriteBufferSize(writeBufferSize),
		grpc.MaxConcurrentStreams(100000),
		grpc.MaxRecvMsgSize(4<<20),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time:                  30 * time.Second,
			Timeout:               10 * time.Second,
			MaxConnectionAge:      s.args.KeepaliveMaxServerConnectionAge,
			MaxConnectionAgeGrace: 10 * time.Second,
		}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 15 * time.Second, PermitWithoutStream: true}),
	)
	s.xds.Register(s.grpc)
	s.wg.Add(1)
	go func() { defer s.wg.Done(); _ = s.grpc.Serve(lis) }()
	return nil
}

func (s *Server) serveHTTP() error {
	monitoring := http.NewServeMux()
	// Go runtime and process collectors, as istiod exports (go_*, process_*).
	reg := s.xds.Metrics().Registry
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return err
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return err
	}
	monitoring.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	monitoring.HandleFunc("/version", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprintln(w, Version)
	})
	monitoring.Handle("/debug/", s.withConfigProblems(s.debug))
	monitoring.Handle("/debug", s.debug)
	for name, spec := range map[string]struct {
		addr string
		h    http.Handler
	}{"http": {s.args.HTTPAddr, s.withConfigProblems(s.debug)}, "monitoring": {s.args.MonitoringAddr, monitoring}} {
		if spec.addr == "" {
			continue
		}
		lis, err := net.Listen("tcp", spec.addr)
		if err != nil {
			return fmt.Errorf("%s listener %s: %w", name, spec.addr, err)
		}
		s.addrs[name] = lis.Addr().String()
		srv := &http.Server{Handler: spec.h, ReadHeaderTimeout: 10 * time.Second}
		s.http = append(s.http, srv)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error(err, "http server", "listener", name)
			}
		}()
	}
	return nil
}

// Shutdown stops accepting streams, closes the open ones (proxies reconnect elsewhere)
// and waits up to the shutdown duration for them to drain.
func (s *Server) Shutdown() {
	s.log.Info("shutting down", "grace", s.args.ShutdownDuration)
	s.xds.Close()
	done := make(chan struct{})
	go func() {
		if s.grpc != nil {
			s.grpc.GracefulStop()
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(s.args.ShutdownDuration):
		s.grpc.Stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.args.ShutdownDuration)
	defer cancel()
	for _, h := range s.http {
		_ = h.Shutdown(ctx)
	}
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
}

// Version is reported on /version.
const Version = "sextant (istiod 1.31 compatible)"
