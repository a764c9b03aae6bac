// Package xds is Sextant's ADS server: State of the World and Delta
// AggregatedDiscoveryService streams for Envoy sidecars and proxyless gRPC clients.
//
// Each stream is one Connection with, per resource type, the subscribed names and the
// nonce/version/ACK/NACK state. Config changes arrive as PushRequests, are debounced
// (package debounce), turn into a new PushContext and are pushed to the connections they
// may affect; each connection merges pending pushes into one, so producers never block,
// and a connection whose stream cannot take a response within the send timeout is closed
// (the proxy reconnects). A NACKed response is recorded and the same config is never sent
// again to that connection; a push that changes nothing sends nothing on Delta streams.
//
// Generators (PushContext + Proxy -> resources) are plugged in by type URL; this package
// never builds xDS itself.
package xds
