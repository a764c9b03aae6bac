package kube

import (
	"context"
	"testing"

	"github.com/go-logr/logr/testr"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

// fakeEnv is a source over controller-runtime's fake client, with no manager and no
// informers: tests call the reconcilers themselves. Every scope reads the whole fake
// client, so it checks the source's own bookkeeping, not the caches' filtering (the
// envtest tests do that).
type fakeEnv struct {
	src     *Source
	client  client.WithWatch
	store   *model.Store
	changes *changes
}

func newFakeEnv(t *testing.T, opts Options, objs ...client.Object) *fakeEnv {
	t.Helper()
	e := &fakeEnv{
		client:  fake.NewClientBuilder().WithScheme(kubeScheme).WithRESTMapper(testMapper()).WithObjects(objs...).Build(),
		store:   model.NewStore(),
		changes: &changes{},
	}
	opts.OnChange = e.changes.record
	opts.Log = testr.New(t)
	opts.defaults()
	src, err := newSource(e.store, e.client, opts)
	if err != nil {
		t.Fatal(err)
	}
	src.newScope = func(_ context.Context, ns string) (*scope, error) {
		return &scope{namespace: ns, reader: e.client, stop: func() {}}, nil
	}
	for _, s := range schema.All() {
		if !ownReconcilers[gk(s)] {
			src.addKind(newKind(s, s.Versions[0]))
		}
	}
	close(src.ready)
	if err := src.syncAllNamespaces(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.src = src
	return e
}

// reconcile runs the reconciler of o's kind on o's key.
func (e *fakeEnv) reconcile(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		k := keyOf(t, o)
		if k.Kind == schema.Namespace {
			if err := e.src.syncNamespace(t.Context(), k.Name); err != nil {
				t.Fatal(err)
			}
			continue
		}
		for _, r := range e.src.reconcilers {
			if r.kind.schema.Kind != k.Kind {
				continue
			}
			if _, err := r.Reconcile(t.Context(), requestFor(k.Namespace, k.Name)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func requestFor(namespace, name string) reconcile.Request {
	return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: namespace, Name: name}}
}
