package config

import (
	"fmt"
	"time"
)

// Kind identifies a type of configuration independently of its API version: Istio serves
// networking.istio.io VirtualService as v1, v1beta1 and v1alpha3 with one schema, and
// Sextant treats them as one kind.
type Kind struct {
	Group string // "" for the Kubernetes core group
	Kind  string
}

// String renders the kind as Kind.group (or Kind for the core group), as kubectl does.
func (k Kind) String() string {
	if k.Group == "" {
		return k.Kind
	}
	return k.Kind + "." + k.Group
}

// Key names one configuration object. It is what sources report as changed and what the
// push pipeline merges and scopes on.
type Key struct {
	Kind      Kind
	Namespace string
	Name      string
}

// String renders the key as Kind/namespace/name.
func (k Key) String() string {
	if k.Namespace == "" {
		return fmt.Sprintf("%s/%s", k.Kind.Kind, k.Name)
	}
	return fmt.Sprintf("%s/%s/%s", k.Kind.Kind, k.Namespace, k.Name)
}

// Meta is the object metadata Sextant uses.
type Meta struct {
	Kind              Kind
	APIVersion        string // as written by the user, e.g. networking.istio.io/v1
	Namespace         string
	Name              string
	Labels            map[string]string
	Annotations       map[string]string
	ResourceVersion   string
	Generation        int64
	CreationTimestamp time.Time
	// Source says where the object came from (file path and document index, or the
	// Kubernetes API), for error messages.
	Source string
}

// Key returns the object's key.
func (m *Meta) Key() Key { return Key{Kind: m.Kind, Namespace: m.Namespace, Name: m.Name} }

// Config is one configuration object. Spec is the typed spec: an istio.io/api proto
// message for Istio kinds, or the whole typed Kubernetes object (*corev1.Service, ...)
// for Kubernetes kinds. A Config handed to the model must not be altered afterwards.
type Config struct {
	Meta
	Spec any
}

// String names the object for messages: Kind namespace/name.
func (c *Config) String() string {
	return fmt.Sprintf("%s %s/%s", c.Kind.Kind, c.Namespace, c.Name)
}
