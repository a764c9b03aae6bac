package kube

import (
	"context"
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sextant-mesh/sextant/pkg/config"
)

// initialSync puts every object of the selected namespaces, and every Node, in the Store
// before Start returns, so that the first PushContext, built after Start, sees the whole
// cluster; what it applies is not reported to OnChange. It lists
// each kind from each scope and applies the objects as reconciles do; the reconciles the
// same objects trigger meanwhile find them already applied. It returns how many objects
// the source holds.
func (s *Source) initialSync(ctx context.Context) (int, error) {
	all, scopes := s.st.namespaceScopes()
	if all != nil {
		scopes = map[string]*scope{"": all}
	}
	type job struct {
		r  *reconciler
		sc *scope
	}
	var jobs []job
	for _, r := range s.reconcilers {
		if !r.kind.schema.Namespaced {
			jobs = append(jobs, job{r, s.st.cluster})
			continue
		}
		for _, sc := range scopes {
			jobs = append(jobs, job{r, sc})
		}
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, s.opts.MaxConcurrentReconciles)
	)
	for _, j := range jobs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := j.r.applyAll(ctx, j.sc); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return 0, errs[0]
	}
	return s.st.count(), nil
}

// applyAll applies every object of the kind sc holds.
func (r *reconciler) applyAll(ctx context.Context, sc *scope) error {
	list := r.kind.newList()
	if err := sc.reader.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return fmt.Errorf("listing %s in %q: %w", r.kind, sc.namespace, err)
	}
	return meta.EachListItem(list, func(o runtime.Object) error {
		obj := shallowCopy(o.(client.Object)) // not pinning the list's array in the Store
		k := config.Key{Kind: r.kind.schema.Kind, Namespace: obj.GetNamespace(), Name: obj.GetName()}
		r.apply(sc, k, obj) // not reported: the first PushContext is built after Start
		return nil
	})
}
