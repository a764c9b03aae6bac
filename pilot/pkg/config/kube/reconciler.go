package kube

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/sextant-mesh/sextant/pkg/config"
)

// reconciler keeps the Store in line with the objects of one kind. It is level-based: a
// request names an object, and the reconciler makes the Store agree with what the cache
// serving that object's namespace holds now, whatever the event was.
type reconciler struct {
	kind     *kind
	st       *state
	revision string
	onChange func(map[config.Key]struct{})
	log      logr.Logger
}

var _ reconcile.Reconciler = &reconciler{}

// staleRetries bounds how often a reconcile re-reads after the namespace's scope changed
// under it; past that it is requeued.
const staleRetries = 3

// Reconcile implements reconcile.Reconciler.
func (r *reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	k := config.Key{Kind: r.kind.schema.Kind, Namespace: req.Namespace, Name: req.Name}
	for range staleRetries {
		changed, stale, err := r.sync(ctx, k)
		if err != nil {
			return reconcile.Result{}, err
		}
		if stale {
			continue
		}
		if changed {
			r.onChange(map[config.Key]struct{}{k: {}})
		}
		return reconcile.Result{}, nil
	}
	return reconcile.Result{RequeueAfter: 100 * time.Millisecond}, nil
}

// sync makes the Store agree with the cache about k. stale means the scope serving k's
// namespace changed while reading; nothing was written.
func (r *reconciler) sync(ctx context.Context, k config.Key) (changed, stale bool, err error) {
	sc := r.st.scopeFor(k.Namespace)
	if sc == nil {
		changed, stale = r.st.remove(nil, k)
		return changed, stale, nil
	}
	obj := r.kind.newObject()
	// No copy: the object is only read, and the Store's contract forbids altering it.
	if err := sc.reader.Get(ctx, client.ObjectKey{Namespace: k.Namespace, Name: k.Name}, obj, client.UnsafeDisableDeepCopy); err != nil {
		if !apierrors.IsNotFound(err) {
			return false, false, fmt.Errorf("reading %s: %w", k, err)
		}
		changed, stale = r.st.remove(sc, k)
		return changed, stale, nil
	}
	changed, stale = r.apply(sc, k, obj)
	return changed, stale, nil
}

// apply puts obj, read from sc, in the Store, unless it belongs to another revision or is
// invalid.
func (r *reconciler) apply(sc *scope, k config.Key, obj client.Object) (changed, stale bool) {
	rv := obj.GetResourceVersion()
	if r.kind.schema.Istio && !inRevision(obj.GetLabels(), r.revision) {
		r.log.V(1).Info("ignoring object of another revision", "object", k.String(), "revision", obj.GetLabels()[labelRevision])
		return r.st.remove(sc, k)
	}
	if r.st.seen(k, rv) {
		return false, false
	}
	c, warnings, err := toConfig(r.kind, obj)
	if err != nil {
		p := Problem{Key: k, ResourceVersion: rv, Err: err}
		p.log(r.log)
		return r.st.reject(sc, p)
	}
	if len(warnings) > 0 {
		Problem{Key: k, ResourceVersion: rv, Warnings: warnings}.log(r.log)
	}
	return r.st.apply(sc, c, warnings)
}
