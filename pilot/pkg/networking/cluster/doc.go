// Package cluster generates CDS for sidecars: outbound clusters per imported service port
// and DestinationRule subset, inbound clusters per port the workload serves (or per
// Sidecar ingress listener), and the BlackHole/Passthrough clusters, named and configured
// as istiod 1.31 does. Gateways get the outbound clusters and BlackHoleCluster. The
// proxy's EnvoyFilter CLUSTER patches (pilot/pkg/envoyfilter) are applied in
// BuildClusters: outbound and inbound clusters each in their context, inbound clusters
// matched by the services they serve.
//
// The entry point is BuildClusters. For other generators:
//   - BuildOutbound builds one outbound cluster (service, port, subset) exactly as
//     BuildClusters emits it for a sidecar;
//   - OutboundName names such a cluster (outbound|PORT|SUBSET|HOST);
//   - ApplyConsistentHash applies a DestinationRule's consistentHash to any cluster.
//
// Proxyless gRPC clusters are much smaller than a sidecar's (EDS, explicit ISTIO_MUTUAL
// only, LB, max requests): grpcgen builds them itself from OutboundName,
// model.SubsetTrafficPolicy and ApplyConsistentHash rather than trimming BuildOutbound's.
//
// Generation is a pure function of the PushContext and Proxy. The package reads the model,
// the shared networking helpers (protoconv, sds) and envoyfilter; it must not import the other
// generators (listener, route, endpoint, grpcgen).
package cluster
