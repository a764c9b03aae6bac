package kube

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
	"github.com/sextant-mesh/sextant/pkg/config/validation"
)

// inShop returns the fixtures of namespace shop, and the cluster-scoped ones.
func inShop(objs []client.Object) []client.Object {
	var out []client.Object
	for _, o := range objs {
		if o.GetNamespace() == "shop" || o.GetNamespace() == "" {
			out = append(out, o)
		}
	}
	return out
}

func TestEveryKindReachesTheStoreOnce(t *testing.T) {
	objs := inShop(loadObjects(t, "mesh.yaml"))
	e := newFakeEnv(t, Options{}, objs...)
	e.changes.take() // the namespaces
	e.reconcile(t, objs...)
	got := e.changes.take()
	kinds := map[config.Kind]bool{}
	for _, o := range objs {
		k := keyOf(t, o)
		kinds[k.Kind] = true
		c := e.store.Get(k)
		if c == nil {
			t.Errorf("%s not in the store", k)
			continue
		}
		if s := schema.ByKind(k.Kind); s.Istio {
			if _, ok := c.Spec.(proto.Message); !ok {
				t.Errorf("%s: spec is %T", k, c.Spec)
			}
		} else if _, ok := c.Spec.(client.Object); !ok {
			t.Errorf("%s: spec is %T", k, c.Spec)
		}
		if got[k] != 1 && k.Kind != schema.Namespace {
			t.Errorf("%s reported %d times", k, got[k])
		}
	}
	for _, s := range schema.All() {
		if !kinds[s.Kind] && s.Kind != schema.ConfigMap {
			t.Errorf("fixtures lack a %s", s.Kind)
		}
	}
	for _, p := range e.src.Problems() {
		if p.Err != nil || p.Key.Kind != schema.EnvoyFilter {
			t.Errorf("unexpected problem: %v", p)
		}
	}
	// A resync (the same objects again) reports nothing.
	e.reconcile(t, objs...)
	if got := e.changes.take(); len(got) != 0 {
		t.Errorf("resync reported %v", got)
	}
}

func TestUpdatesReportOnlyWhatTheMeshReads(t *testing.T) {
	objs := loadObjects(t, "mesh.yaml")
	dr := find(t, objs, "DestinationRule", "reviews").(*unstructured.Unstructured)
	svc := find(t, objs, "Service", "reviews").(*corev1.Service)
	e := newFakeEnv(t, Options{}, dr, svc)
	e.reconcile(t, dr, svc)
	e.changes.take()
	ctx := t.Context()

	// A status write changes the resourceVersion, not the spec: the Store follows the
	// new version silently.
	_ = e.client.Get(ctx, client.ObjectKeyFromObject(dr), dr)
	_ = unstructured.SetNestedField(dr.Object, "seen", "status", "note")
	if err := e.client.Update(ctx, dr); err != nil {
		t.Fatal(err)
	}
	e.reconcile(t, dr)
	if got := e.changes.take(); len(got) != 0 {
		t.Errorf("status update reported %v", got)
	}
	if rv := e.store.Get(keyOf(t, dr)).ResourceVersion; rv != dr.GetResourceVersion() {
		t.Errorf("store has resourceVersion %s, want %s", rv, dr.GetResourceVersion())
	}

	// A spec change is reported.
	_ = unstructured.SetNestedField(dr.Object, "LEAST_REQUEST", "spec", "trafficPolicy", "loadBalancer", "simple")
	_ = e.client.Update(ctx, dr)
	svc.Spec.Ports[0].Port = 9081
	_ = e.client.Update(ctx, svc)
	e.reconcile(t, dr, svc)
	if got := e.changes.take(); got[keyOf(t, dr)] != 1 || got[keyOf(t, svc)] != 1 {
		t.Errorf("spec updates reported %v", got)
	}
	if p := e.store.Get(keyOf(t, svc)).Spec.(*corev1.Service).Spec.Ports[0].Port; p != 9081 {
		t.Errorf("store has port %d", p)
	}

	// Deletes are reported and leave the Store.
	_ = e.client.Delete(ctx, dr)
	_ = e.client.Delete(ctx, svc)
	e.reconcile(t, dr, svc)
	if got := e.changes.take(); got[keyOf(t, dr)] != 1 || got[keyOf(t, svc)] != 1 {
		t.Errorf("deletes reported %v", got)
	}
	if e.store.Get(keyOf(t, dr)) != nil || e.store.Get(keyOf(t, svc)) != nil {
		t.Error("deleted objects are still in the store")
	}
}

func TestObjectsOfAnotherRevisionAreIgnored(t *testing.T) {
	tests := []struct {
		revision, label string
		want            bool
	}{
		{"default", "", true},
		{"default", "default", true},
		{"default", "canary", false},
		{"canary", "canary", true},
		{"canary", "default", false},
		{"", "canary", true},
	}
	for _, tt := range tests {
		t.Run(tt.revision+"/"+tt.label, func(t *testing.T) {
			dr := find(t, loadObjects(t, "mesh.yaml"), "DestinationRule", "reviews")
			if tt.label != "" {
				dr.SetLabels(map[string]string{labelRevision: tt.label})
			}
			e := newFakeEnv(t, Options{Revision: tt.revision}, dr)
			e.reconcile(t, dr)
			if got := e.store.Get(keyOf(t, dr)) != nil; got != tt.want {
				t.Errorf("in store = %v, want %v", got, tt.want)
			}
		})
	}

	// Moving an object to another revision removes it, and back adds it.
	objs := loadObjects(t, "mesh.yaml")
	dr, svc := find(t, objs, "DestinationRule", "reviews"), find(t, objs, "Service", "reviews")
	e := newFakeEnv(t, Options{Revision: "default"}, dr, svc)
	e.reconcile(t, dr, svc)
	for _, o := range []client.Object{dr, svc} {
		_ = e.client.Get(t.Context(), client.ObjectKeyFromObject(o), o)
		o.SetLabels(map[string]string{labelRevision: "canary"})
		_ = e.client.Update(t.Context(), o)
	}
	e.changes.take()
	e.reconcile(t, dr, svc)
	if e.store.Get(keyOf(t, dr)) != nil {
		t.Error("DestinationRule of revision canary still in the store")
	}
	if e.store.Get(keyOf(t, svc)) == nil {
		t.Error("Services are not filtered by revision (istiod filters Istio objects only)")
	}
	if got := e.changes.take(); got[keyOf(t, dr)] != 1 {
		t.Errorf("leaving the revision reported %v", got)
	}
}

func TestBadObjectsAreReportedAndSkipped(t *testing.T) {
	objs := loadObjects(t, "mesh.yaml")
	bad := loadObjects(t, "bad.yaml")[0].(*unstructured.Unstructured)
	vs := find(t, objs, "VirtualService", "reviews")
	e := newFakeEnv(t, Options{}, bad, vs)
	e.reconcile(t, bad, vs)
	if e.store.Get(keyOf(t, bad)) != nil {
		t.Error("invalid VirtualService in the store")
	}
	if e.store.Get(keyOf(t, vs)) == nil {
		t.Error("valid VirtualService not served")
	}
	problems := e.src.Problems()
	if len(problems) != 1 || problems[0].Key != keyOf(t, bad) {
		t.Fatalf("problems = %v", problems)
	}
	var fe *validation.FieldError
	if !errors.As(problems[0].Err, &fe) || fe.Field != "spec.http[0].match[0].uri.regex" {
		t.Errorf("problem %v does not name the field", problems[0].Err)
	}
	// Seeing it again neither reports nor duplicates it.
	e.changes.take()
	e.reconcile(t, bad)
	if len(e.src.Problems()) != 1 || len(e.changes.take()) != 0 {
		t.Error("a resync of the bad object changed something")
	}

	// Fixed, it is served and the problem is gone.
	http, _, _ := unstructured.NestedSlice(bad.Object, "spec", "http")
	http[0].(map[string]any)["match"] = []any{map[string]any{"uri": map[string]any{"regex": "/v[0-9]+/.*"}}}
	_ = unstructured.SetNestedSlice(bad.Object, http, "spec", "http")
	if err := e.client.Update(t.Context(), bad); err != nil {
		t.Fatal(err)
	}
	e.reconcile(t, bad)
	if e.store.Get(keyOf(t, bad)) == nil || len(e.src.Problems()) != 0 {
		t.Errorf("fixed object: in store %v, problems %v", e.store.Get(keyOf(t, bad)) != nil, e.src.Problems())
	}

	// Broken again, it leaves the Store and that is reported.
	http[0].(map[string]any)["match"] = []any{map[string]any{"uri": map[string]any{"regex": "(["}}}
	_ = unstructured.SetNestedSlice(bad.Object, http, "spec", "http")
	_ = e.client.Update(t.Context(), bad)
	e.changes.take()
	e.reconcile(t, bad)
	if e.store.Get(keyOf(t, bad)) != nil || e.changes.take()[keyOf(t, bad)] != 1 {
		t.Error("an object turned invalid was not removed and reported")
	}
}
