package kube

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pkg/config"
)

// Source keeps a Store in line with a cluster. Start it once; it runs until the context
// given to Start ends.
type Source struct {
	opts Options
	log  logr.Logger
	st   *state
	mgr  manager.Manager
	// cluster reads Namespaces, Nodes and the mesh ConfigMap (the manager's cache).
	cluster client.Reader

	kinds       []*kind       // served by the generic reconciler
	reconcilers []*reconciler // of kinds, in the same order
	namespaced  []*kind       // those of kinds read through namespace scopes
	byKind      map[config.Kind]*kind

	// scopeMu serialises changes to the scopes; sel is the current selection, and
	// rescope is set when it changed and the scopes do not follow it yet.
	scopeMu  sync.Mutex
	sel      atomic.Pointer[selection]
	rescope  atomic.Bool
	newScope scopeStarter
	runCtx   context.Context

	meshMu   sync.Mutex
	mesh     *meshv1alpha1.MeshConfig
	networks *meshv1alpha1.MeshNetworks

	ready   chan struct{} // closed once the controllers run and the mesh config is read
	stopped chan struct{} // closed when the manager has stopped
}

// New returns a source reading the cluster cfg points at into store. It does not contact
// the API server; Start does.
func New(cfg *rest.Config, store *model.Store, opts Options) (*Source, error) {
	opts.defaults()
	if cfg.QPS == 0 && cfg.Burst == 0 {
		// client-go's default (5 per second) would take minutes to start the caches of a
		// few dozen namespaces; istiod's defaults (--kubernetesApiQPS/Burst) instead.
		cfg = rest.CopyConfig(cfg)
		cfg.QPS, cfg.Burst = 80, 160
	}
	byObject := map[client.Object]cache.ByObject{}
	if opts.MeshConfigMap != "" {
		byObject[&corev1.ConfigMap{}] = cache.ByObject{
			Namespaces: map[string]cache.Config{opts.SystemNamespace: {}},
			Field:      fields.OneTermEqualSelector("metadata.name", opts.MeshConfigMap),
		}
	}
	mgr, err := manager.New(cfg, manager.Options{
		Scheme: kubeScheme,
		// controller-runtime's own progress (controllers and sources starting) is debug
		// detail here; its errors (failed reconciles, watches) still show.
		Logger:                 opts.Log.V(1),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{DefaultTransform: trim, ByObject: byObject},
	})
	if err != nil {
		return nil, fmt.Errorf("kubernetes source: %w", err)
	}
	s, err := newSource(store, mgr.GetCache(), opts)
	if err != nil {
		return nil, err
	}
	s.mgr = mgr
	s.newScope = s.startCacheScope
	return s, nil
}

// newSource returns a source without a manager: cluster reads Namespaces, Nodes and the
// mesh ConfigMap. opts must have their defaults.
func newSource(store *model.Store, cluster client.Reader, opts Options) (*Source, error) {
	sel, err := newSelection(opts.Mesh.GetDiscoverySelectors(), opts.WatchNamespace, opts.SystemNamespace)
	if err != nil {
		return nil, fmt.Errorf("mesh config: %w", err)
	}
	s := &Source{
		opts: opts, log: opts.Log, cluster: cluster, st: newState(store, &scope{reader: cluster}),
		mesh: opts.Mesh, networks: &meshv1alpha1.MeshNetworks{},
		byKind: map[config.Kind]*kind{}, ready: make(chan struct{}), stopped: make(chan struct{}),
	}
	s.sel.Store(sel)
	return s, nil
}

// addKind adds a kind served by the generic reconciler.
func (s *Source) addKind(k *kind) *reconciler {
	r := &reconciler{kind: k, st: s.st, revision: s.opts.Revision, onChange: s.report, log: s.log}
	s.kinds = append(s.kinds, k)
	s.reconcilers = append(s.reconcilers, r)
	s.byKind[k.schema.Kind] = k
	if k.schema.Namespaced {
		s.namespaced = append(s.namespaced, k)
	}
	return r
}

// Start starts watching and returns once the Store holds every object of the selected
// namespaces (or the first error). What it puts in the Store before returning is not
// reported to OnChange: build the first PushContext after Start. Changes after that (and
// some during) are. The source keeps running until ctx ends; Done is closed then.
func (s *Source) Start(ctx context.Context) error {
	start := time.Now()
	s.runCtx = ctx
	if err := s.addControllers(); err != nil {
		close(s.stopped)
		return err
	}
	errc := make(chan error, 1)
	go func() {
		defer close(s.stopped)
		if err := s.mgr.Start(ctx); err != nil {
			s.log.Error(err, "kubernetes source stopped")
			errc <- err
		}
	}()
	if err := s.waitStarted(ctx, errc); err != nil {
		return err
	}
	if s.opts.MeshConfigMap != "" {
		if _, err := s.syncMesh(ctx); err != nil {
			return err
		}
	}
	close(s.ready)
	if err := s.syncAllNamespaces(ctx); err != nil {
		return err
	}
	n, err := s.initialSync(ctx)
	if err != nil {
		return err
	}
	s.log.Info("kubernetes source synced", "objects", n, "problems", len(s.st.problemList()), "duration", time.Since(start).Round(time.Millisecond))
	return nil
}

// Done is closed when the source has stopped.
func (s *Source) Done() <-chan struct{} { return s.stopped }

// Problems returns the objects currently rejected or accepted with warnings, sorted.
func (s *Source) Problems() []Problem { return s.st.problemList() }

// waitStarted waits for every controller to run and the manager's cache to sync.
func (s *Source) waitStarted(ctx context.Context, errc <-chan error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case err := <-errc:
			cancel(err)
		case <-ctx.Done():
		}
	}()
	for _, k := range s.kinds {
		if err := k.waitStarted(ctx); err != nil {
			return fmt.Errorf("kubernetes source: %w", context.Cause(ctx))
		}
	}
	if !s.mgr.GetCache().WaitForCacheSync(ctx) {
		return fmt.Errorf("kubernetes source: cache did not sync: %w", context.Cause(ctx))
	}
	return nil
}

// waitReady waits until Start has read the mesh config: reconcilers that change the
// scopes must not run on the initial selection before that.
func (s *Source) waitReady(ctx context.Context) error {
	select {
	case <-s.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// report hands changed keys to OnChange.
func (s *Source) report(changed map[config.Key]struct{}) {
	if len(changed) > 0 {
		s.opts.OnChange(changed)
	}
}

// addControllers registers one controller per kind, and those of namespaces and the mesh
// ConfigMap.
func (s *Source) addControllers() error {
	kinds, err := resolveKinds(s.mgr.GetRESTMapper(), s.opts.SkipIstioKinds, s.log)
	if err != nil {
		return fmt.Errorf("kubernetes source: %w", err)
	}
	for _, k := range kinds {
		r := s.addKind(k)
		srcs := []source.Source{source.Func(func(_ context.Context, q queue) error { k.setQueue(q); return nil })}
		if !k.schema.Namespaced {
			srcs = append(srcs, s.watchCluster(k.newObject()))
		}
		if err := s.addController(strings.ToLower(k.String()), r, s.opts.MaxConcurrentReconciles, srcs...); err != nil {
			return err
		}
	}
	if err := s.addController("namespace", &namespaceReconciler{s}, 1, s.watchCluster(&corev1.Namespace{})); err != nil {
		return err
	}
	if s.opts.MeshConfigMap == "" {
		return nil
	}
	return s.addController("meshconfig", &meshReconciler{s}, 1, s.watchCluster(&corev1.ConfigMap{}))
}

// watchCluster is a source of events on obj's kind from the manager's cache.
func (s *Source) watchCluster(obj client.Object) source.Source {
	return source.Kind[client.Object](s.mgr.GetCache(), obj, &handler.EnqueueRequestForObject{}, predicate.ResourceVersionChangedPredicate{})
}

func (s *Source) addController(name string, r reconcile.Reconciler, workers int, srcs ...source.Source) error {
	skip := true // several sources may run in one process (tests); names are for logs only
	c, err := controller.New("sextant-"+name, s.mgr, controller.Options{
		Reconciler:              r,
		MaxConcurrentReconciles: workers,
		SkipNameValidation:      &skip,
	})
	if err != nil {
		return fmt.Errorf("kubernetes source: controller %s: %w", name, err)
	}
	for _, src := range srcs {
		if err := c.Watch(src); err != nil {
			return fmt.Errorf("kubernetes source: controller %s: %w", name, err)
		}
	}
	return nil
}
