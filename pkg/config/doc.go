// Package config defines the identity and envelope of every configuration object Sextant
// reads: Istio custom resources and the Kubernetes objects the mesh is built from.
//
// A Config is a Meta (kind, namespace, name, labels, ...) plus a typed Spec. Sources
// (the config directory, the Kubernetes reconcilers) produce Configs; the model consumes
// them. This package owns no behaviour beyond identity: it must not import anything under
// pilot/.
package config
