package kube

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	runtimeschema "k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/yaml"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

var separator = regexp.MustCompile(`(?m)^---\s*$`)

// loadObjects reads a YAML file of testdata: typed objects for the Kubernetes kinds,
// unstructured ones for the Istio kinds, as the caches hold them.
func loadObjects(t testing.TB, name string) []client.Object {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var out []client.Object
	for _, doc := range separator.Split(string(b), -1) {
		js, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		if s := strings.TrimSpace(string(js)); s == "null" || s == "{}" {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			t.Fatal(err)
		}
		out = append(out, typed(t, u))
	}
	return out
}

// typed converts u to its typed object when the scheme knows its kind.
func typed(t testing.TB, u *unstructured.Unstructured) client.Object {
	gvk := u.GroupVersionKind()
	if !kubeScheme.Recognizes(gvk) {
		return u
	}
	o, err := kubeScheme.New(gvk)
	if err != nil {
		t.Fatal(err)
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, o); err != nil {
		t.Fatal(err)
	}
	return o.(client.Object)
}

// find returns the object of objs with this kind and name.
func find(t testing.TB, objs []client.Object, kind, name string) client.Object {
	t.Helper()
	for _, o := range objs {
		if o.GetObjectKind().GroupVersionKind().Kind == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("no %s %s in the fixtures", kind, name)
	return nil
}

// keyOf returns the config key of o.
func keyOf(t testing.TB, o client.Object) config.Key {
	t.Helper()
	gvk, err := apiutil.GVKForObject(o, kubeScheme)
	if err != nil {
		t.Fatal(err)
	}
	s, err := schema.Lookup(gvk.GroupVersion().String(), gvk.Kind)
	if err != nil {
		t.Fatal(err)
	}
	return config.Key{Kind: s.Kind, Namespace: o.GetNamespace(), Name: o.GetName()}
}

// testMapper knows every version of every schema kind, for the fake client.
func testMapper() meta.RESTMapper {
	m := meta.NewDefaultRESTMapper(nil)
	for _, s := range schema.All() {
		scope := meta.RESTScopeRoot
		if s.Namespaced {
			scope = meta.RESTScopeNamespace
		}
		for _, v := range s.Versions {
			m.Add(runtimeschema.GroupVersionKind{Group: s.Kind.Group, Version: v, Kind: s.Kind.Kind}, scope)
		}
	}
	return m
}

// changes records what a source reports.
type changes struct {
	mu   sync.Mutex
	keys map[config.Key]int
}

func (c *changes) record(m map[config.Key]struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keys == nil {
		c.keys = map[config.Key]int{}
	}
	for k := range m {
		c.keys[k]++
	}
}

// take returns the keys reported since the last take.
func (c *changes) take() map[config.Key]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.keys
	c.keys = nil
	return out
}

// metaItems returns the items of a list as objects.
func metaItems(list client.ObjectList) ([]client.Object, error) {
	objs, err := meta.ExtractList(list)
	if err != nil {
		return nil, err
	}
	out := make([]client.Object, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.(client.Object))
	}
	return out, nil
}
