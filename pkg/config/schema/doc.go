// Package schema lists the kinds of configuration Sextant understands: their group, the
// API versions accepted for each, whether they are namespaced, and how to decode one object
// of the kind from JSON into its typed Spec. It is the single table the loaders and the
// Kubernetes reconcilers share.
package schema
