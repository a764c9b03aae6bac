package kube

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"

	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
	"github.com/sextant-mesh/sextant/pkg/config/validation"
)

// sourceName is Config.Source for objects read from the API server.
const sourceName = "kubernetes"

// labelRevision is the label naming the control plane revision an object belongs to.
const labelRevision = "istio.io/rev"

// toConfig converts an object read from a cache. Istio objects go through schema.Decode
// and validation.Validate, as the config directory's do; an error means the object is
// invalid for Istio and c (metadata only, when the envelope decoded) names it. Kubernetes
// objects become the Spec as they are: obj must not be altered afterwards.
func toConfig(k *kind, obj client.Object) (c *config.Config, warnings []string, err error) {
	if !k.schema.Istio {
		return kubeConfig(k.schema, obj), nil, nil
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil, nil, fmt.Errorf("%s: want an unstructured object, got %T", k, obj)
	}
	return istioConfig(u)
}

func istioConfig(u *unstructured.Unstructured) (*config.Config, []string, error) {
	data, err := json.Marshal(u.Object)
	if err != nil {
		return nil, nil, fmt.Errorf("re-encoding %s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
	}
	c, err := schema.Decode(data)
	if c != nil {
		c.Source = sourceName
	}
	if err != nil {
		return c, nil, err
	}
	warnings, err := validation.Validate(c)
	return c, warnings, err
}

func kubeConfig(s *schema.Schema, o client.Object) *config.Config {
	return &config.Config{
		Meta: config.Meta{
			Kind:              s.Kind,
			APIVersion:        s.APIVersion(),
			Namespace:         o.GetNamespace(),
			Name:              o.GetName(),
			Labels:            o.GetLabels(),
			Annotations:       o.GetAnnotations(),
			ResourceVersion:   o.GetResourceVersion(),
			Generation:        o.GetGeneration(),
			CreationTimestamp: o.GetCreationTimestamp().Time,
			Source:            sourceName,
		},
		Spec: o,
	}
}

// inRevision reports whether an object with these labels belongs to revision, by
// istiod's rule: unlabelled objects belong to every revision, and an empty revision
// accepts every object.
func inRevision(labels map[string]string, revision string) bool {
	rev, ok := labels[labelRevision]
	return !ok || revision == "" || rev == revision
}

// sameObject reports whether two versions of an object are equal in everything the mesh
// reads: labels, annotations and spec, or for a Kubernetes object everything but the
// metadata that changes on every write (resourceVersion, generation, managed fields).
func sameObject(a, b *config.Config) bool {
	if !maps.Equal(a.Labels, b.Labels) || !maps.Equal(a.Annotations, b.Annotations) {
		return false
	}
	switch sa := a.Spec.(type) {
	case proto.Message:
		sb, ok := b.Spec.(proto.Message)
		return ok && proto.Equal(sa, sb)
	case client.Object:
		sb, ok := b.Spec.(client.Object)
		return ok && equality.Semantic.DeepEqual(withoutVolatileMeta(sa), withoutVolatileMeta(sb))
	}
	return reflect.DeepEqual(a.Spec, b.Spec)
}

// withoutVolatileMeta returns a shallow copy of o without the metadata every write
// changes. o itself (shared with the cache and the Store) is not altered.
func withoutVolatileMeta(o client.Object) client.Object {
	c := shallowCopy(o)
	c.SetResourceVersion("")
	c.SetGeneration(0)
	c.SetManagedFields(nil)
	return c
}

// shallowCopy returns a new object sharing o's maps and slices.
func shallowCopy(o client.Object) client.Object {
	v := reflect.New(reflect.TypeOf(o).Elem())
	v.Elem().Set(reflect.ValueOf(o).Elem())
	return v.Interface().(client.Object)
}
