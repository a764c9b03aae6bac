// Package kube is the Kubernetes source: it keeps the model.Store in line with the objects
// of a cluster, as the file package does for a config directory, and reports the keys of
// what changed. It never builds xDS.
//
// # What it watches
//
// A controller-runtime manager runs one level-based reconciler per kind: every Istio kind
// of pkg/config/schema (read as unstructured objects and decoded with schema.Decode and
// validation.Validate, exactly as the config directory is), Service, EndpointSlice, Pod,
// Secret, Node and Namespace, plus the mesh ConfigMap ("istio" or "istio-<rev>" in the
// istiod namespace), whose "mesh" and "meshNetworks" keys are handed to callbacks rather
// than stored. Each reconciler reads the object named by the request from a cache: found
// means add or update, missing means delete. An update that changes nothing the mesh reads
// (same resourceVersion, or same labels, annotations and spec) reports nothing, so resyncs
// and status updates cause no push.
//
// # Namespace filtering happens at the cache
//
// Objects of namespaces the mesh does not select are never cached. The selection is
// meshConfig.discoverySelectors (a namespace is selected when any selector matches; no
// selectors select every namespace) and ISTIO_WATCH_NAMESPACE (only that namespace); the
// istiod namespace is always selected. When every namespace is selected, one cluster-wide
// cache serves all namespaced kinds. Otherwise each selected namespace gets its own cache
// (a "scope"), started when the namespace becomes selected and stopped when it stops being
// selected; then every object the source had taken from that namespace is removed from the
// Store and reported. All scopes feed the same per-kind work queues, so concurrency is per
// kind (MaxConcurrentReconciles, PILOT_KUBE_MAX_CONCURRENT_RECONCILES), not per namespace.
//
// # Memory
//
// Cached objects lose what the mesh never reads before they are stored (managed fields,
// kubectl's last-applied annotation, the status of Istio objects, most of a Pod and a
// Node), Secrets of the types istiod ignores are not listed at all, and reconcilers read
// the cache without copying: the Store gets shallow copies that share maps and slices with
// the cache. That is safe because nothing alters a cached object (informers replace
// objects, they do not edit them) and the Store's contract forbids altering what it holds.
//
// # Revisions
//
// With a revision set, Istio objects labelled istio.io/rev for another revision are
// treated as absent, as istiod does; unlabelled objects belong to every revision.
//
// Bad objects (accepted by the API server but invalid for Istio) are logged with their
// kind, namespace, name and fields, listed by Problems, and left out of the Store; the
// rest is served.
//
// The package depends on the model, the config schema and validation, and
// controller-runtime; it must never import the xDS server, the generators or bootstrap.
package kube
