// Package endpoint generates EDS: one ClusterLoadAssignment per EDS cluster name
// ("outbound|port|subset|host"), with the endpoints of the service as the proxy sees it,
// filtered by the subset's labels and by health, grouped by locality, and prioritised or
// weighted by the effective locality load balancing settings, as istiod emits them.
//
// It owns the per-endpoint metadata Envoy and telemetry read: istio.workload
// ("workload;namespace;canonical name;canonical revision;cluster") and
// envoy.transport_socket_match tlsMode (whether the endpoint accepts Istio mTLS).
//
// The package reads only the model (PushContext, Proxy); it must never import the other
// generators (cluster, listener, route) nor anything that serves xDS.
package endpoint
