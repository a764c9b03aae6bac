package kube

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/sextant-mesh/sextant/pkg/config"
)

// scopeSyncTimeout bounds the wait for a new cache's first list of every kind; a kind
// the API server will not list (RBAC) fails the scope rather than hanging the source.
const scopeSyncTimeout = 2 * time.Minute

// scopeStarts bounds how many namespace caches start at once when many namespaces become
// selected together (startup, a new discoverySelector).
const scopeStarts = 8

// scopeStarter starts a scope serving one namespace, or every namespace for "". The real
// one starts a cache; tests substitute readers.
type scopeStarter func(ctx context.Context, namespace string) (*scope, error)

// startCacheScope starts a cache for the namespaced kinds of one namespace (every
// namespace for ""), feeding every kind's work queue, and waits until it has listed them.
func (s *Source) startCacheScope(ctx context.Context, namespace string) (*scope, error) {
	opts := cache.Options{
		HTTPClient:       s.mgr.GetHTTPClient(),
		Scheme:           kubeScheme,
		Mapper:           s.mgr.GetRESTMapper(),
		DefaultTransform: trim,
		ByObject:         map[client.Object]cache.ByObject{&corev1.Secret{}: {Field: secretFields}},
	}
	if namespace != "" {
		opts.DefaultNamespaces = map[string]cache.Config{namespace: {}}
	}
	c, err := cache.New(s.mgr.GetConfig(), opts)
	if err != nil {
		return nil, fmt.Errorf("cache for namespace %q: %w", namespace, err)
	}
	runCtx, stop := context.WithCancel(s.runCtx)
	go func() {
		if err := c.Start(runCtx); err != nil {
			s.log.Error(err, "namespace cache stopped", "namespace", namespace)
		}
	}()
	syncCtx, cancel := context.WithTimeout(ctx, scopeSyncTimeout)
	defer cancel()
	if err := s.feedQueues(runCtx, syncCtx, c); err != nil {
		stop()
		return nil, fmt.Errorf("cache for namespace %q: %w", namespace, err)
	}
	s.log.V(1).Info("watching namespace", "namespace", namespace)
	return &scope{namespace: namespace, reader: c, stop: stop}, nil
}

// feedQueues makes c's informers of every namespaced kind enqueue into the kind's queue,
// until runCtx ends, and waits for their first list.
func (s *Source) feedQueues(runCtx, syncCtx context.Context, c cache.Cache) error {
	var srcs []source.SyncingSource
	for _, k := range s.namespaced {
		if err := k.waitStarted(syncCtx); err != nil {
			return err
		}
		src := source.Kind[client.Object](c, k.newObject(), &handler.EnqueueRequestForObject{}, predicate.ResourceVersionChangedPredicate{})
		if err := src.Start(runCtx, k.queue); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		srcs = append(srcs, src)
	}
	for i, src := range srcs {
		if err := src.WaitForSync(syncCtx); err != nil {
			return fmt.Errorf("listing %s: %w", s.namespaced[i], err)
		}
	}
	return nil
}

// startScopes starts scopes for namespaces, a few at a time.
func (s *Source) startScopes(ctx context.Context, namespaces []string) (map[string]*scope, error) {
	var (
		mu   sync.Mutex
		out  = map[string]*scope{}
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, scopeStarts)
	)
	for _, ns := range namespaces {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			sc, err := s.newScope(ctx, ns)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			out[ns] = sc
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		for _, sc := range out {
			sc.stop()
		}
		return nil, errs[0]
	}
	return out, nil
}

// replaceScopes installs the scopes and stops the ones they replace. Reconciles of the
// started scopes' objects may have run before the scopes were installed (and found their
// namespace unselected), so every object the started scopes hold is queued again, and so
// is every object the Store holds from their namespaces (the new caches may lack some).
// It returns the keys of the objects dropped because no scope serves their namespace any
// more.
func (s *Source) replaceScopes(ctx context.Context, all *scope, scopes map[string]*scope, started []*scope) map[config.Key]struct{} {
	dropped, retired := s.st.setScopes(all, scopes)
	for _, sc := range retired {
		if sc.stop != nil {
			sc.stop()
		}
		s.log.V(1).Info("stopped watching namespace", "namespace", sc.namespace)
	}
	for _, sc := range started {
		s.requeue(ctx, sc)
	}
	return dropped
}

// requeue queues every object of sc, and every object the Store holds from sc's
// namespace (every namespace for the cluster-wide scope), for reconciliation.
func (s *Source) requeue(ctx context.Context, sc *scope) {
	add := func(k *kind, namespace, name string) {
		if q := k.startedQueue(); q != nil {
			q.Add(reconcile.Request{NamespacedName: client.ObjectKey{Namespace: namespace, Name: name}})
		}
	}
	for _, k := range s.namespaced {
		list := k.newList()
		if err := sc.reader.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
			s.log.Error(err, "listing a new cache", "kind", k.String(), "namespace", sc.namespace)
			continue
		}
		_ = meta.EachListItem(list, func(o runtime.Object) error {
			m := o.(client.Object)
			add(k, m.GetNamespace(), m.GetName())
			return nil
		})
	}
	for _, k := range s.st.namespacedKeys(sc.namespace) {
		add(s.byKind[k.Kind], k.Namespace, k.Name)
	}
}
