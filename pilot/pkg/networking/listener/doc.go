// Package listener generates LDS for sidecars: the virtualOutbound (15001) and
// virtualInbound (15006) capture listeners, the per-port outbound listeners for the
// services a proxy's SidecarScope imports, the optional HTTP proxy listener, and inbound
// listeners for Sidecar ingress ports that bind a real port. Output matches istiod's:
// names, filter chain order, default filters and their settings.
//
// Files by concern:
//   - outbound.go, outbound_entry.go: egress listeners, one entry per (bind, port), and
//     istiod's resolution when several services share a port (HTTP shares through RDS, TCP
//     chains merge by match, mixed HTTP/TCP turns into protocol detection);
//   - outbound_tcp.go, tcp.go: TCP/TLS chains from VirtualService tcp/tls routes and the
//     tcp_proxy stacks they end in;
//   - inbound.go, inbound_route.go: inbound chains for the workload's service targets or
//     Sidecar ingress listeners, per mTLS mode, with their inline route configuration;
//   - virtual.go: the capture listeners, the catch-all and passthrough chains;
//   - match.go, listenerfilters.go: filter chain matches and the inspectors they need;
//   - hcm.go, httpfilters.go, tracing.go, telemetry.go: the HTTP connection manager,
//     built by one function for inbound and outbound chains;
//   - tls.go: inbound mesh mTLS contexts.
//
// The proxy's EnvoyFilter patches (pilot/pkg/envoyfilter) are applied in BuildListeners,
// per listener context, and to each inbound route configuration as it is built, where
// istiod applies them.
//
// The package reads only the PushContext and the Proxy (generation is a pure function of
// them). It must not import the cluster, route or endpoint generators: the inbound route
// configuration it embeds is its own.
package listener
