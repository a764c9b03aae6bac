package model

import (
	"maps"
	"slices"
	"sync/atomic"

	"github.com/sextant-mesh/sextant/pkg/config/host"
)

// Generators that keep a connection's last build (route and cluster memos) must tell
// what changed between the PushContext they built from and the current one. Indexes
// shared by derived contexts are the same objects, but a memo should not pin an old
// index to compare with: indexes whose changes generators need to know carry a version
// instead, and the endpoint index a bounded log of which services each derive touched.

// indexVersions numbers indexes as they are built; 0 is no index.
var indexVersions atomic.Uint64

func nextIndexVersion() uint64 { return indexVersions.Add(1) }

// endpointChange records that the endpoint index of version to, derived from that of
// version from, re-derived the endpoints of keys (every other entry is shared).
type endpointChange struct {
	from, to uint64
	keys     []serviceKey
}

// maxEndpointChanges bounds the endpoint index's log: a memo older than that many
// endpoint changes is rebuilt in full.
const maxEndpointChanges = 64

// successor returns an index sharing ei's entries, to be changed for keys only, with
// the change logged.
func (ei *endpointIndex) successor(keys []serviceKey) *endpointIndex {
	v := nextIndexVersion()
	log := ei.log[max(0, len(ei.log)-maxEndpointChanges+1):]
	return &endpointIndex{
		byService: maps.Clone(ei.byService),
		version:   v,
		log:       append(slices.Clip(log), endpointChange{from: ei.version, to: v, keys: keys}),
	}
}

// EndpointsVersion identifies pc's endpoint index.
func (pc *PushContext) EndpointsVersion() uint64 { return pc.endpoints.version }

// AuthnVersion identifies pc's PeerAuthentication index: the mTLS modes of services
// (PushContext.ServiceMTLSMode of a service that is not passthrough) are the same in
// contexts with the same version.
func (pc *PushContext) AuthnVersion() uint64 { return pc.authn.version }

// EndpointChanges are the services whose endpoints changed between two endpoint indexes.
type EndpointChanges map[serviceKey]struct{}

// Touches reports whether the endpoints, and so the service accounts, of svc may differ.
func (c EndpointChanges) Touches(svc *Service) bool {
	_, ok := c[serviceKey{svc.Hostname, svc.Namespace}]
	return ok
}

// ServicesAffected returns the services of sc whose hostname is in hosts or whose
// endpoints changes touch, found through the scope's hostname index: callers that walk
// the scope's thousand services then compare pointers instead of reading each service.
func (sc *SidecarScope) ServicesAffected(hosts map[host.Name]bool, changes EndpointChanges) map[*Service]bool {
	out := map[*Service]bool{}
	for h := range hosts {
		if s := sc.byHost[h]; s != nil {
			out[s] = true
		}
	}
	if len(changes) > len(sc.services) {
		for _, s := range sc.services {
			if changes.Touches(s) {
				out[s] = true
			}
		}
		return out
	}
	for k := range changes {
		if s := sc.byHost[k.Hostname]; s != nil && s.Namespace == k.Namespace {
			out[s] = true
		}
	}
	return out
}

// EndpointChangesSince returns the services whose endpoints (PushContext.Endpoints,
// ServiceAccounts) may differ between the endpoint index of version v and pc's; false
// when pc cannot tell (v is too old or not an ancestor of pc's index).
func (pc *PushContext) EndpointChangesSince(v uint64) (EndpointChanges, bool) {
	ei := pc.endpoints
	var out EndpointChanges // nil (touches nothing) until a change is found
	at := ei.version
	for i := len(ei.log) - 1; at != v; i-- {
		if i < 0 || ei.log[i].to != at {
			return nil, false
		}
		if out == nil {
			out = EndpointChanges{}
		}
		for _, k := range ei.log[i].keys {
			out[k] = struct{}{}
		}
		at = ei.log[i].from
	}
	return out, true
}
