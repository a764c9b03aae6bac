package kube

import (
	"testing"

	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/mesh"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

// meshOn selects the namespaces labelled mesh=on.
func meshOn() *meshv1alpha1.MeshConfig {
	m := mesh.Default()
	m.DiscoverySelectors = []*meshv1alpha1.LabelSelector{{MatchLabels: map[string]string{"mesh": "on"}}}
	return m
}

// inStore returns which of objs' keys the store holds.
func inStore(t *testing.T, e *fakeEnv, objs []client.Object) (in, out []config.Key) {
	for _, o := range objs {
		k := keyOf(t, o)
		if e.store.Get(k) != nil {
			in = append(in, k)
		} else {
			out = append(out, k)
		}
	}
	return in, out
}

func namespaced(objs []client.Object, ns string) []client.Object {
	var out []client.Object
	for _, o := range objs {
		if o.GetNamespace() == ns {
			out = append(out, o)
		}
	}
	return out
}

func TestRelabelingANamespaceAddsAndRemovesItsObjects(t *testing.T) {
	objs := loadObjects(t, "mesh.yaml")
	e := newFakeEnv(t, Options{Mesh: meshOn()}, objs...)
	e.reconcile(t, objs...)
	shop, legacy := namespaced(objs, "shop"), namespaced(objs, "legacy")
	if _, out := inStore(t, e, shop); len(out) != 0 {
		t.Errorf("selected namespace: %v not in the store", out)
	}
	if in, _ := inStore(t, e, legacy); len(in) != 0 {
		t.Errorf("unselected namespace: %v in the store", in)
	}
	nsKey := func(n string) config.Key { return config.Key{Kind: schema.Namespace, Name: n} }
	if e.store.Get(nsKey("shop")) == nil || e.store.Get(nsKey("legacy")) != nil {
		t.Error("the store should hold the selected namespaces only")
	}

	// Labelling legacy selects it: once its cache has listed it, its objects are in.
	relabel(t, e, "legacy", map[string]string{"mesh": "on"})
	e.changes.take()
	e.reconcile(t, legacy...)
	if _, out := inStore(t, e, legacy); len(out) != 0 {
		t.Errorf("newly selected namespace: %v not in the store", out)
	}
	if got := e.changes.take(); len(got) != len(legacy) {
		t.Errorf("reported %v", got)
	}

	// Unlabelling shop drops every one of its objects at once, and reports them.
	relabel(t, e, "shop", nil)
	got := e.changes.take()
	if in, _ := inStore(t, e, shop); len(in) != 0 {
		t.Errorf("deselected namespace: %v still in the store", in)
	}
	for _, o := range append(shop, find(t, objs, "Namespace", "shop")) {
		if got[keyOf(t, o)] != 1 {
			t.Errorf("%s not reported once: %v", keyOf(t, o), got)
		}
	}
	// Late events of the deselected namespace change nothing.
	e.reconcile(t, shop...)
	if in, _ := inStore(t, e, shop); len(in) != 0 || len(e.changes.take()) != 0 {
		t.Errorf("late reconciles of a deselected namespace: %v in the store", in)
	}
	if _, scopes := e.src.st.namespaceScopes(); scopes["shop"] != nil || scopes["legacy"] == nil {
		t.Errorf("scopes = %v", scopes)
	}
}

func relabel(t *testing.T, e *fakeEnv, name string, labels map[string]string) {
	t.Helper()
	n := &corev1.Namespace{}
	if err := e.client.Get(t.Context(), client.ObjectKey{Name: name}, n); err != nil {
		t.Fatal(err)
	}
	n.Labels = labels
	if err := e.client.Update(t.Context(), n); err != nil {
		t.Fatal(err)
	}
	if err := e.src.syncNamespace(t.Context(), name); err != nil {
		t.Fatal(err)
	}
}

func TestMeshConfigMapDecidesTheSelection(t *testing.T) {
	objs := loadObjects(t, "mesh.yaml")
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "istio", Namespace: "istio-system"},
		Data:       map[string]string{keyMesh: "discoverySelectors:\n- matchLabels: {mesh: \"on\"}\n"},
	}
	var meshes []*meshv1alpha1.MeshConfig
	e := newFakeEnv(t, Options{MeshConfigMap: "istio", OnMesh: func(m *meshv1alpha1.MeshConfig) { meshes = append(meshes, m) }}, objs...)
	e.reconcile(t, objs...)
	if all, _ := e.src.st.namespaceScopes(); all == nil {
		t.Fatal("no selectors, yet no cluster-wide scope")
	}
	legacy := namespaced(objs, "legacy")
	if _, out := inStore(t, e, legacy); len(out) != 0 {
		t.Fatalf("%v not in the store", out)
	}
	e.changes.take()

	// The ConfigMap appears with a selector: one cache per selected namespace, and
	// legacy's objects leave.
	if err := e.client.Create(t.Context(), cm); err != nil {
		t.Fatal(err)
	}
	reconcileMesh(t, e)
	if len(meshes) != 1 || len(meshes[0].DiscoverySelectors) != 1 {
		t.Fatalf("OnMesh got %v", meshes)
	}
	all, scopes := e.src.st.namespaceScopes()
	if all != nil || scopes["shop"] == nil || scopes["legacy"] != nil {
		t.Errorf("scopes after selecting: all=%v per namespace=%v", all != nil, scopes)
	}
	if in, _ := inStore(t, e, legacy); len(in) != 0 {
		t.Errorf("%v still in the store", in)
	}
	if got := e.changes.take(); len(got) != len(legacy)+1 { // and the Namespace
		t.Errorf("reported %v", got)
	}

	// The same ConfigMap again changes nothing; a broken one is ignored.
	reconcileMesh(t, e)
	cm.Data[keyMesh] = "discoverySelectors: 7"
	_ = e.client.Update(t.Context(), cm)
	reconcileMesh(t, e)
	if len(meshes) != 1 || len(e.changes.take()) != 0 {
		t.Errorf("an unchanged or broken mesh config changed something: %d meshes", len(meshes))
	}

	// Deleted, the defaults select every namespace again.
	_ = e.client.Delete(t.Context(), cm)
	reconcileMesh(t, e)
	if all, _ := e.src.st.namespaceScopes(); all == nil || len(meshes) != 2 {
		t.Error("deleting the ConfigMap did not restore the defaults")
	}
	e.reconcile(t, legacy...)
	if _, out := inStore(t, e, legacy); len(out) != 0 {
		t.Errorf("%v not back in the store", out)
	}
}

func reconcileMesh(t *testing.T, e *fakeEnv) {
	t.Helper()
	r := &meshReconciler{e.src}
	req := requestFor("istio-system", "istio")
	if _, err := r.Reconcile(t.Context(), req); err != nil {
		t.Fatal(err)
	}
}
