// Package e2e drives a running Sextant with real clients nobody here wrote: grpc-go's xDS
// client (proxyless gRPC, the way Istio supports it) doing real RPCs against real gRPC
// backends, routed by the config Sextant serves.
//
// grpc-go reads its xDS bootstrap when its xds package initializes, so the client runs in
// a child process (this test binary re-executed) whose environment carries
// GRPC_XDS_BOOTSTRAP_CONFIG pointing at the server under test. The parent drives it over
// stdin/stdout.
package e2e
