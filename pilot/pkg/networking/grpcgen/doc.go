// Package grpcgen generates xDS for proxyless gRPC clients (node metadata GENERATOR=grpc),
// as istiod's gRPC generator emits it: an API listener per requested "host:port" target
// whose HTTP connection manager names the route configuration "outbound|port||host"; that
// route configuration, holding only the target's virtual host from the sidecar routes; and
// plain EDS clusters (default and DestinationRule subsets) carrying only what gRPC
// implements (TLS via certificate providers, LEAST_REQUEST and ring hash, max requests).
// Endpoints are the endpoint package's.
//
// It reuses the route package for virtual hosts and the cluster package for consistent
// hashing; it must not import the listener package nor anything that serves xDS.
//
// Not generated yet: server-side (inbound, "xds.istio.io/grpc/lds/inbound/...") listeners,
// which must carry the workload's authorization policies as RBAC filters; until
// authorization is modelled they are omitted rather than served without RBAC.
package grpcgen
