// Package load measures how fast a config change reaches every proxy of a mesh: K
// simulated proxies hold real ADS streams (State of the World or Delta) against a running
// control plane, behaving as Envoy does: node id and istio-agent metadata, CDS and LDS
// wildcard subscriptions, EDS for the EDS clusters and RDS for the routes the listeners
// name, an ACK for every response, retries with Envoy's backoff when the server refuses a
// stream for its rate limit. The driver then edits one object in the config directory the
// server watches (a VirtualService, a DestinationRule, an EndpointSlice, a ServiceEntry's
// endpoints) and measures, per proxy the change can affect, the time from the file write
// to the ACK of the first response that reflects it; plus responses and bytes per change
// (for affected and, separately, unaffected proxies), the server's own push counters, its
// CPU time and RSS.
//
// The control plane is Sextant (in this process, a child pilot-discovery, or one already
// running) or upstream istiod: the oracle (../shared/oracle) run as a child process over
// the same directory, so the two can be measured side by side on the same mesh (see
// WriteComparison). istiod's oracle serves no /metrics: its push counters are n/a and a
// change is over when no client has received anything for the quiet period. It reads
// Kubernetes objects once, so its endpoint changes are ServiceEntry endpoint edits.
//
// Which proxies a change affects is derived from the generated mesh's Sidecars (see
// scopes): a proxy is affected when the Sidecar scoping it imports the changed host.
//
// Figures are for reading, never for asserting: tests here assert only functional facts
// (every affected proxy converges, an endpoint-only change sends only EDS). Every wait is
// bounded in time, and only loopback addresses are used.
package load
