package kube

import (
	"context"
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

// namespaceReconciler decides whether a namespace is watched: a selected namespace is in
// the Store and, when only some namespaces are selected, has a running cache; a namespace
// that stops being selected loses both, and its objects leave the Store.
type namespaceReconciler struct{ s *Source }

var _ reconcile.Reconciler = &namespaceReconciler{}

// Reconcile implements reconcile.Reconciler.
func (r *namespaceReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	if err := r.s.waitReady(ctx); err != nil {
		return reconcile.Result{}, err
	}
	return reconcile.Result{}, r.s.syncNamespace(ctx, req.Name)
}

// syncNamespace makes the Store and the scopes agree with the selection of one namespace.
func (s *Source) syncNamespace(ctx context.Context, name string) error {
	s.scopeMu.Lock()
	defer s.scopeMu.Unlock()
	sel := s.sel.Load()
	all, scopes := s.st.namespaceScopes()
	if s.rescope.Load() || sel.everything() != (all != nil) {
		// The selection changed and the scopes have not followed yet.
		return s.syncAllNamespacesLocked(ctx)
	}
	ns, err := s.getNamespace(ctx, name)
	if err != nil {
		return err
	}
	selected := ns != nil && sel.selects(ns)
	changed := s.recordNamespace(name, ns, selected)
	if all == nil && selected != (scopes[name] != nil) {
		var started []*scope
		if selected {
			sc, err := s.newScope(ctx, name)
			if err != nil {
				return err
			}
			scopes[name], started = sc, []*scope{sc}
		} else {
			delete(scopes, name)
		}
		dropped := s.replaceScopes(ctx, nil, scopes, started)
		s.log.Info("namespace selection changed", "namespace", name, "selected", selected, "objectsDropped", len(dropped))
		maps.Copy(changed, dropped)
	}
	s.report(changed)
	return nil
}

// syncAllNamespaces makes the Store and the scopes agree with the selection of every
// namespace: at startup and when the mesh config changes the selection.
func (s *Source) syncAllNamespaces(ctx context.Context) error {
	s.scopeMu.Lock()
	defer s.scopeMu.Unlock()
	return s.syncAllNamespacesLocked(ctx)
}

func (s *Source) syncAllNamespacesLocked(ctx context.Context) error {
	list := &corev1.NamespaceList{}
	if err := s.cluster.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		s.rescope.Store(true)
		return fmt.Errorf("listing namespaces: %w", err)
	}
	// Cleared before reading the selection: one set after it makes the next reconcile
	// rescope again.
	s.rescope.Store(false)
	sel := s.sel.Load()
	changed := map[config.Key]struct{}{}
	present := map[string]bool{}
	var want []string
	for i := range list.Items {
		ns := list.Items[i] // a copy of its own, not pinning the list
		present[ns.Name] = true
		selected := sel.selects(&ns)
		if selected {
			want = append(want, ns.Name)
		}
		maps.Copy(changed, s.recordNamespace(ns.Name, &ns, selected))
	}
	for _, k := range s.st.keys("") {
		if k.Kind == schema.Namespace && !present[k.Name] {
			maps.Copy(changed, s.recordNamespace(k.Name, nil, false))
		}
	}
	all, scopes, started, err := s.nextScopes(ctx, sel, want)
	if err != nil {
		s.rescope.Store(true)
		return err
	}
	maps.Copy(changed, s.replaceScopes(ctx, all, scopes, started))
	s.log.Info("watching namespaces", "selected", len(want), "of", len(list.Items), "oneCache", all != nil)
	s.report(changed)
	return nil
}

// nextScopes returns the scopes serving the selected namespaces, reusing the running
// ones, and those that are new.
func (s *Source) nextScopes(ctx context.Context, sel *selection, want []string) (*scope, map[string]*scope, []*scope, error) {
	all, scopes := s.st.namespaceScopes()
	if sel.everything() {
		if all != nil {
			return all, nil, nil, nil
		}
		all, err := s.newScope(ctx, "")
		if err != nil {
			return nil, nil, nil, err
		}
		return all, nil, []*scope{all}, nil
	}
	next := map[string]*scope{}
	var missing []string
	for _, ns := range want {
		if sc := scopes[ns]; sc != nil && all == nil {
			next[ns] = sc
		} else {
			missing = append(missing, ns)
		}
	}
	started, err := s.startScopes(ctx, missing)
	if err != nil {
		return nil, nil, nil, err
	}
	maps.Copy(next, started)
	return nil, next, slices.Collect(maps.Values(started)), nil
}

// recordNamespace puts a selected namespace in the Store, or takes it out; the map it
// returns (never nil) holds the key when that changed anything.
func (s *Source) recordNamespace(name string, ns *corev1.Namespace, selected bool) map[config.Key]struct{} {
	k := config.Key{Kind: schema.Namespace, Name: name}
	var changed bool
	switch {
	case !selected:
		changed, _ = s.st.remove(s.st.cluster, k)
	case !s.st.seen(k, ns.ResourceVersion):
		changed, _ = s.st.apply(s.st.cluster, kubeConfig(schema.ByKind(schema.Namespace), ns), nil)
	}
	out := map[config.Key]struct{}{}
	if changed {
		out[k] = struct{}{}
	}
	return out
}

// getNamespace reads a namespace from the cluster cache; nil when it does not exist.
func (s *Source) getNamespace(ctx context.Context, name string) (*corev1.Namespace, error) {
	ns := &corev1.Namespace{}
	if err := s.cluster.Get(ctx, client.ObjectKey{Name: name}, ns, client.UnsafeDisableDeepCopy); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading namespace %s: %w", name, err)
	}
	return ns, nil
}
