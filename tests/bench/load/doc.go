// Package load measures how fast a config change reaches every proxy of a mesh: K
// simulated proxies hold real ADS streams (State of the World or Delta) against a running
// Sextant, behaving as Envoy does: node id and istio-agent metadata, CDS and LDS wildcard
// subscriptions, EDS for the EDS clusters and RDS for the routes the listeners name, an
// ACK for every response. The driver then edits one object in the config directory the
// server watches (a VirtualService, a DestinationRule, an EndpointSlice) and measures, per
// proxy the change can affect, the time from the file write to the ACK of the first
// response that reflects it; plus responses and bytes per change (for affected and,
// separately, unaffected proxies), the server's own push counters, its CPU time and RSS.
//
// Which proxies a change affects is known from the mesh's shape: namespaces with an
// isolating Sidecar import only themselves, the others import everything.
//
// Figures are for reading, never for asserting: tests here assert only functional facts
// (every affected proxy converges, an endpoint-only change sends only EDS). Every wait is
// bounded in time, and only loopback addresses are used.
package load
