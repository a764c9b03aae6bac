package meshdir

import (
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

// Marshal renders one object as a YAML manifest (no document separator). Istio kinds get
// apiVersion, kind, metadata and the spec in protojson's camelCase form; Kubernetes kinds
// are the typed object with apiVersion and kind set and empty status and null timestamps
// left out. c is not altered.
func Marshal(c *config.Config) ([]byte, error) {
	s := schema.ByKind(c.Kind)
	if s == nil {
		return nil, fmt.Errorf("%s: unknown kind", c)
	}
	var obj map[string]any
	var err error
	if s.Istio {
		obj, err = istioObject(c)
	} else {
		obj, err = kubeObject(c)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c, err)
	}
	// apiVersion and kind lead, as in every hand-written manifest; yaml.Marshal would
	// sort them among the other keys.
	body, err := yaml.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c, err)
	}
	head := fmt.Sprintf("apiVersion: %s\nkind: %s\n", s.APIVersion(), c.Kind.Kind)
	return append([]byte(head), body...), nil
}

func istioObject(c *config.Config) (map[string]any, error) {
	m, ok := c.Spec.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("spec is %T, not a proto message", c.Spec)
	}
	spec, err := protojson.Marshal(m)
	if err != nil {
		return nil, err
	}
	md := map[string]any{"name": c.Name}
	if c.Namespace != "" {
		md["namespace"] = c.Namespace
	}
	if len(c.Labels) > 0 {
		md["labels"] = c.Labels
	}
	if len(c.Annotations) > 0 {
		md["annotations"] = c.Annotations
	}
	return map[string]any{"metadata": md, "spec": json.RawMessage(spec)}, nil
}

func kubeObject(c *config.Config) (map[string]any, error) {
	if _, ok := c.Spec.(metav1.Object); !ok {
		return nil, fmt.Errorf("spec is %T, not a Kubernetes object", c.Spec)
	}
	b, err := json.Marshal(apiDefaults(c.Spec))
	if err != nil {
		return nil, err
	}
	var obj map[string]any
	if err := json.Unmarshal(b, &obj); err != nil {
		return nil, err
	}
	delete(obj, "apiVersion")
	delete(obj, "kind")
	prune(obj)
	return obj, nil
}

// prune drops null values and the empty objects they leave (status: {}), which the
// typed Kubernetes encoding emits for unset fields (creationTimestamp: null).
func prune(m map[string]any) {
	for k, v := range m {
		switch v := v.(type) {
		case nil:
			delete(m, k)
		case map[string]any:
			prune(v)
			if len(v) == 0 {
				delete(m, k)
			}
		case []any:
			for _, e := range v {
				if em, ok := e.(map[string]any); ok {
					prune(em)
				}
			}
		}
	}
}

// apiDefaults returns obj as the API server would store it, for the defaults generated
// objects leave out: a Service port's targetPort is its port.
func apiDefaults(obj any) any {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return obj
	}
	svc = svc.DeepCopy()
	for i, p := range svc.Spec.Ports {
		if p.TargetPort.IntValue() == 0 && p.TargetPort.StrVal == "" {
			svc.Spec.Ports[i].TargetPort = intstr.FromInt32(p.Port)
		}
	}
	return svc
}
