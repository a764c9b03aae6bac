package kube

import (
	"context"
	"fmt"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	runtimeschema "k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

// kubeScheme knows the typed Kubernetes kinds the source reads; Istio kinds are read as
// unstructured objects, so that they are decoded by schema.Decode like the config
// directory's.
var kubeScheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := corev1.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := discoveryv1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}()

// queue is a kind's work queue, shared by every cache that feeds the kind.
type queue = workqueue.TypedRateLimitingInterface[reconcile.Request]

// kind is one kind served by the generic reconciler: its schema, the API version read,
// and the work queue of its controller once that has started.
type kind struct {
	schema *schema.Schema
	gvk    runtimeschema.GroupVersionKind

	queue   queue
	started chan struct{} // closed once queue is set
}

func newKind(s *schema.Schema, version string) *kind {
	return &kind{
		schema:  s,
		gvk:     runtimeschema.GroupVersionKind{Group: s.Kind.Group, Version: version, Kind: s.Kind.Kind},
		started: make(chan struct{}),
	}
}

// String names the kind for logs and controller names.
func (k *kind) String() string { return k.schema.Kind.String() }

// newObject returns an empty object of the kind, to read from a cache into.
func (k *kind) newObject() client.Object {
	if k.schema.Istio {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(k.gvk)
		return u
	}
	o, err := kubeScheme.New(k.gvk)
	if err != nil {
		panic(fmt.Sprintf("kind %s is not in the scheme: %v", k.gvk, err))
	}
	return o.(client.Object)
}

// newList returns an empty list of the kind.
func (k *kind) newList() client.ObjectList {
	gvk := k.gvk
	gvk.Kind += "List"
	if k.schema.Istio {
		u := &unstructured.UnstructuredList{}
		u.SetGroupVersionKind(gvk)
		return u
	}
	o, err := kubeScheme.New(gvk)
	if err != nil {
		panic(fmt.Sprintf("kind %s is not in the scheme: %v", gvk, err))
	}
	return o.(client.ObjectList)
}

// setQueue records the kind's work queue; caches started afterwards feed it.
func (k *kind) setQueue(q queue) {
	k.queue = q
	close(k.started)
}

// waitStarted waits until the kind's controller has started.
func (k *kind) waitStarted(ctx context.Context) error {
	select {
	case <-k.started:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// startedQueue returns the kind's queue, or nil if its controller has not started (or k
// is nil).
func (k *kind) startedQueue() queue {
	if k == nil {
		return nil
	}
	select {
	case <-k.started:
		return k.queue
	default:
		return nil
	}
}

// ownReconcilers are the kinds with a reconciler of their own rather than the generic one.
var ownReconcilers = map[runtimeschema.GroupKind]bool{
	{Kind: schema.Namespace.Kind}: true, // decides what is watched
	{Kind: schema.ConfigMap.Kind}: true, // only the mesh config, handed to callbacks
}

// resolveKinds lists the kinds served by the generic reconciler, each at the first of its
// schema's versions the API server serves. Istio kinds whose CRD is not installed are
// logged and left out (istiod likewise runs without optional CRDs).
func resolveKinds(mapper meta.RESTMapper, skipIstio bool, log logr.Logger) ([]*kind, error) {
	var out []*kind
	for _, s := range schema.All() {
		gk := gk(s)
		if ownReconcilers[gk] || (skipIstio && s.Istio) {
			continue
		}
		if !s.Istio {
			out = append(out, newKind(s, s.Versions[0]))
			continue
		}
		version, err := servedVersion(mapper, gk, s.Versions)
		if err != nil {
			return nil, err
		}
		if version == "" {
			log.Info("kind not served by the API server; not watched", "kind", s.Kind.String(), "versions", s.Versions)
			continue
		}
		out = append(out, newKind(s, version))
	}
	return out, nil
}

// servedVersion returns the first of versions the API server serves gk at, or "".
func servedVersion(mapper meta.RESTMapper, gk runtimeschema.GroupKind, versions []string) (string, error) {
	for _, v := range versions {
		_, err := mapper.RESTMapping(gk, v)
		if err == nil {
			return v, nil
		}
		if !meta.IsNoMatchError(err) {
			return "", fmt.Errorf("discovering %s: %w", gk, err)
		}
	}
	return "", nil
}

// gk returns the group and kind of s.
func gk(s *schema.Schema) runtimeschema.GroupKind {
	return runtimeschema.GroupKind{Group: s.Kind.Group, Kind: s.Kind.Kind}
}
