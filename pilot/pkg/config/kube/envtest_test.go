package kube

import (
	"errors"
	"maps"
	"slices"
	"sync"
	"testing"

	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/mesh"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
	"github.com/sextant-mesh/sextant/pkg/config/validation"
)

// withoutNamespaces drops the Namespace fixtures: tests create their own.
func withoutNamespaces(objs []client.Object) []client.Object {
	return slices.DeleteFunc(objs, func(o client.Object) bool { _, ok := o.(*corev1.Namespace); return ok })
}

func TestAPIServerCreateUpdateDeleteOfEveryKind(t *testing.T) {
	c := needAPIServer(t)
	ns := uniq("crud")
	createNamespace(t, c, ns, nil)
	_, store, ch := startSource(t, Options{SystemNamespace: ns + "-system"})

	objs := createIn(t, c, ns, withoutNamespaces(inShop(loadObjects(t, "mesh.yaml")))...)
	kinds := map[config.Kind]bool{}
	for _, o := range objs {
		k := keyOf(t, o)
		kinds[k.Kind] = true
		eventually(t, k.String()+" in the store", func() bool { return store.Get(k) != nil })
	}
	for _, s := range schema.All() {
		if !kinds[s.Kind] && s.Kind != schema.ConfigMap && s.Kind != schema.Namespace {
			t.Errorf("no %s created", s.Kind)
		}
	}
	got := ch.take()
	for _, o := range objs {
		if got[keyOf(t, o)] == 0 {
			t.Errorf("%s not reported", keyOf(t, o))
		}
	}

	for _, o := range objs {
		update(t, c, o, func(o client.Object) { o.SetLabels(map[string]string{"edited": "yes"}) })
	}
	for _, o := range objs {
		k := keyOf(t, o)
		eventually(t, k.String()+" updated", func() bool { c := store.Get(k); return c != nil && c.Labels["edited"] == "yes" })
	}
	got = ch.take()
	for _, o := range objs {
		if got[keyOf(t, o)] == 0 {
			t.Errorf("update of %s not reported", keyOf(t, o))
		}
	}

	for _, o := range objs {
		// No kubelet confirms that pods stopped: delete them at once.
		if err := c.Delete(t.Context(), o, client.GracePeriodSeconds(0)); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range objs {
		k := keyOf(t, o)
		eventually(t, k.String()+" deleted", func() bool { return store.Get(k) == nil })
	}
	got = ch.take()
	for _, o := range objs {
		if got[keyOf(t, o)] == 0 {
			t.Errorf("delete of %s not reported", keyOf(t, o))
		}
	}
}

func TestAPIServerDiscoverySelectors(t *testing.T) {
	c := needAPIServer(t)
	p := uniq("sel")
	system, selIn, selOut := p+"-system", p+"-in", p+"-out"
	selected := map[string]string{"sextant-test": p}
	createNamespace(t, c, system, nil)
	createNamespace(t, c, selIn, selected)
	createNamespace(t, c, selOut, nil)
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "istio", Namespace: system},
		Data:       map[string]string{keyMesh: "discoverySelectors:\n- matchLabels: {sextant-test: " + p + "}\n"},
	}
	if err := c.Create(t.Context(), cm); err != nil {
		t.Fatal(err)
	}
	fixtures := loadObjects(t, "mesh.yaml")
	dr, svc := find(t, fixtures, "DestinationRule", "reviews"), find(t, fixtures, "Service", "reviews")
	in, out := createIn(t, c, selIn, dr, svc), createIn(t, c, selOut, dr, svc)

	var mu sync.Mutex
	var meshes []*meshv1alpha1.MeshConfig
	src, store, ch := startSource(t, Options{SystemNamespace: system, MeshConfigMap: "istio", OnMesh: func(m *meshv1alpha1.MeshConfig) {
		mu.Lock()
		defer mu.Unlock()
		meshes = append(meshes, m)
	}})

	// Start returns with the selected namespaces in the Store, and only them cached.
	assertInStore(t, store, in, true)
	assertInStore(t, store, out, false)
	assertCached(t, src, selIn, system)

	// Labelling sel-out brings its objects in; unlabelling sel-in takes its out.
	update(t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: selOut}}, func(o client.Object) { o.SetLabels(selected) })
	eventually(t, selOut+"'s objects in the store", func() bool { return allInStore(t, store, out, true) })
	update(t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: selIn}}, func(o client.Object) { o.SetLabels(nil) })
	eventually(t, selIn+"'s objects out of the store", func() bool { return allInStore(t, store, in, false) })
	assertCached(t, src, selOut, system)
	got := ch.take()
	for _, o := range append(in, out...) {
		if got[keyOf(t, o)] == 0 {
			t.Errorf("%s not reported", keyOf(t, o))
		}
	}

	// Without selectors, every namespace is watched through one cache.
	update(t, c, cm, func(o client.Object) {
		o.(*corev1.ConfigMap).Data = map[string]string{keyMesh: "trustDomain: example.org\n"}
	})
	eventually(t, "every namespace's objects in the store", func() bool { return allInStore(t, store, append(in, out...), true) })
	if all, _ := src.st.namespaceScopes(); all == nil {
		t.Error("no cluster-wide cache")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(meshes) == 0 || meshes[len(meshes)-1].TrustDomain != "example.org" {
		t.Errorf("OnMesh did not get the new mesh config: %v", meshes)
	}
}

// assertCached checks that the source caches exactly the given namespaces: one scope
// each, and their caches hold objects of those namespaces only.
func assertCached(t *testing.T, src *Source, namespaces ...string) {
	t.Helper()
	all, scopes := src.st.namespaceScopes()
	if all != nil {
		t.Fatal("a cluster-wide cache runs")
	}
	if got := slices.Sorted(maps.Keys(scopes)); !slices.Equal(got, namespaces) {
		t.Errorf("scopes for %v, want %v", got, namespaces)
	}
	for ns, sc := range scopes {
		for _, k := range src.namespaced {
			list := k.newList()
			if err := sc.reader.List(t.Context(), list); err != nil {
				t.Fatal(err)
			}
			items, _ := metaItems(list)
			for _, o := range items {
				if o.GetNamespace() != ns {
					t.Errorf("the cache of %s holds %s %s/%s", ns, k, o.GetNamespace(), o.GetName())
				}
			}
		}
	}
}

func assertInStore(t *testing.T, store *model.Store, objs []client.Object, want bool) {
	t.Helper()
	for _, o := range objs {
		if got := store.Get(keyOf(t, o)) != nil; got != want {
			t.Errorf("%s in store = %v, want %v", keyOf(t, o), got, want)
		}
	}
}

func allInStore(t *testing.T, store *model.Store, objs []client.Object, want bool) bool {
	for _, o := range objs {
		if (store.Get(keyOf(t, o)) != nil) != want {
			return false
		}
	}
	return true
}

func TestAPIServerBadObjectsAreReportedAndSkipped(t *testing.T) {
	c := needAPIServer(t)
	ns := uniq("bad")
	createNamespace(t, c, ns, nil)
	src, store, _ := startSource(t, Options{SystemNamespace: ns + "-system", WatchNamespace: ns})
	bad := createIn(t, c, ns, loadObjects(t, "bad.yaml")...)[0]
	good := createIn(t, c, ns, find(t, loadObjects(t, "mesh.yaml"), "VirtualService", "reviews"))[0]

	eventually(t, "the valid VirtualService in the store", func() bool { return store.Get(keyOf(t, good)) != nil })
	eventually(t, "the invalid one reported", func() bool { return len(src.Problems()) > 0 })
	if store.Get(keyOf(t, bad)) != nil {
		t.Error("invalid VirtualService in the store")
	}
	p := src.Problems()
	var fe *validation.FieldError
	if len(p) != 1 || p[0].Key != keyOf(t, bad) || !errors.As(p[0].Err, &fe) || fe.Field != "spec.http[0].match[0].uri.regex" {
		t.Errorf("problems = %v", p)
	}

	update(t, c, bad, func(o client.Object) {
		u := o.(*unstructured.Unstructured)
		http, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
		http[0].(map[string]any)["match"] = []any{map[string]any{"uri": map[string]any{"prefix": "/v1"}}}
		_ = unstructured.SetNestedSlice(u.Object, http, "spec", "http")
	})
	eventually(t, "the fixed VirtualService in the store", func() bool { return store.Get(keyOf(t, bad)) != nil })
	if p := src.Problems(); len(p) != 0 {
		t.Errorf("problems after the fix: %v", p)
	}
}

func TestAPIServerRevisions(t *testing.T) {
	c := needAPIServer(t)
	ns := uniq("rev")
	createNamespace(t, c, ns, nil)
	_, store, _ := startSource(t, Options{SystemNamespace: ns + "-system", Revision: "default"})
	dr := find(t, loadObjects(t, "mesh.yaml"), "DestinationRule", "reviews")
	mine, canary := dr.DeepCopyObject().(client.Object), dr.DeepCopyObject().(client.Object)
	mine.SetName("mine")
	canary.SetName("canary")
	canary.SetLabels(map[string]string{labelRevision: "canary"})
	objs := createIn(t, c, ns, canary, mine)
	canary, mine = objs[0], objs[1]

	eventually(t, "the default revision's object in the store", func() bool { return store.Get(keyOf(t, mine)) != nil })
	if store.Get(keyOf(t, canary)) != nil {
		t.Error("canary's object in the store")
	}
	update(t, c, canary, func(o client.Object) { o.SetLabels(map[string]string{labelRevision: "default"}) })
	eventually(t, "the object moved to this revision in the store", func() bool { return store.Get(keyOf(t, canary)) != nil })
	update(t, c, mine, func(o client.Object) { o.SetLabels(map[string]string{labelRevision: "canary"}) })
	eventually(t, "the object moved to canary out of the store", func() bool { return store.Get(keyOf(t, mine)) == nil })
}

// A proxy that connects with only a node id gets its workload's labels, identity and
// locality from the Pod and Node the source put in the Store.
func TestAPIServerPodsAndNodesGiveProxiesTheirIdentity(t *testing.T) {
	c := needAPIServer(t)
	ns := uniq("wl")
	createNamespace(t, c, ns, nil)
	_, store, _ := startSource(t, Options{SystemNamespace: ns + "-system"})
	fixtures := loadObjects(t, "mesh.yaml")
	node := find(t, fixtures, "Node", "node-a").DeepCopyObject().(*corev1.Node)
	node.Name = ns + "-node"
	pod := find(t, fixtures, "Pod", "reviews-v1-0").DeepCopyObject().(*corev1.Pod)
	pod.Spec.NodeName = node.Name
	objs := createIn(t, c, ns, pod)
	if err := c.Create(t.Context(), node); err != nil {
		t.Fatal(err)
	}
	pod = objs[0].(*corev1.Pod)
	pod.Status.PodIP, pod.Status.PodIPs = "10.244.9.9", []corev1.PodIP{{IP: "10.244.9.9"}}
	if err := c.Status().Update(t.Context(), pod); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the pod's IP in the store", func() bool {
		p := store.Get(keyOf(t, pod))
		return p != nil && p.Spec.(*corev1.Pod).Status.PodIP == "10.244.9.9" && store.Get(keyOf(t, node)) != nil
	})

	pc := model.NewPushContext(store, mesh.Default(), model.DefaultOptions())
	p, err := model.ParseServiceNode("sidecar~10.244.9.9~reviews-v1-0."+ns+"~"+ns+".svc.cluster.local", nil)
	if err != nil {
		t.Fatal(err)
	}
	pc.InitProxy(p)
	if p.Labels["app"] != "reviews" || p.ServiceAccount != "spiffe://cluster.local/ns/"+ns+"/sa/reviews" ||
		p.Locality != (model.Locality{Region: "eu-west1", Zone: "eu-west1-b"}) {
		t.Errorf("proxy: labels %v, service account %q, locality %+v", p.Labels, p.ServiceAccount, p.Locality)
	}
}
