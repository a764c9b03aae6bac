// Package model is Sextant's view of the mesh: the Store of typed inputs, the services and
// endpoints derived from them, the Proxy asking for config, and the PushContext, an
// immutable snapshot of indexes the generators read.
//
// The model never builds xDS and never reads clients, env vars or clocks: sources write
// the Store, the PushContext is derived from it, generators read the PushContext.
package model
