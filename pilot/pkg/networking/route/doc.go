// Package route generates RDS for sidecars and translates VirtualService HTTP routes into
// Envoy routes, as istiod does.
//
// BuildRoutes is the sidecar entry point: for each route name an outbound HTTP listener
// refers to (the listener port, "9080"), it returns a RouteConfiguration with one virtual
// host per service reachable on that port ("host:port", with every name and address the
// service answers to as domains), the VirtualService routes that apply to it, and a
// catch-all virtual host that passes through (allow_any) or rejects (block_all)
// unknown destinations per the outbound traffic policy. The proxy's EnvoyFilter route
// patches (pilot/pkg/envoyfilter, SIDECAR_OUTBOUND) are applied to each configuration.
//
// Two lower-level functions are exported for other generators:
//
//   - BuildOutboundVirtualHosts returns the virtual hosts of one listener port, before
//     sorting and the catch-all. The proxyless gRPC generator (grpcgen) calls it for its
//     per-service route configurations ("outbound|9080||reviews.default.svc.cluster.local")
//     and keeps the virtual host of the requested service; for proxyless gRPC proxies
//     domains carry ports and timeouts are set as max_stream_duration.
//   - TranslateVirtualService and TranslateHTTPRoute turn VirtualService HTTP rules into
//     Envoy routes for one listener port, given Options (the proxy, the gateways the
//     routes are built for, how destination services and consistent-hash policies are
//     found). Gateway RDS will reuse them.
//
// The package reads only the model (PushContext, Proxy and its SidecarScope) and applies
// EnvoyFilter patches through pilot/pkg/envoyfilter; it never imports other generators, and it has no state: every function is a pure function of
// its arguments.
package route
