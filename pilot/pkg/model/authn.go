package model

import (
	securityv1beta1 "istio.io/api/security/v1beta1"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/labels"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

// MutualTLSMode is the effective peer authentication mode of a workload port.
type MutualTLSMode int

// Modes, as PeerAuthentication defines them (UNSET resolves to PERMISSIVE).
const (
	MTLSUnknown MutualTLSMode = iota
	MTLSDisable
	MTLSPermissive
	MTLSStrict
)

// String names the mode as PeerAuthentication does.
func (m MutualTLSMode) String() string {
	switch m {
	case MTLSDisable:
		return "DISABLE"
	case MTLSPermissive:
		return "PERMISSIVE"
	case MTLSStrict:
		return "STRICT"
	}
	return "UNKNOWN"
}

// PeerAuthnPolicy is the PeerAuthentication in effect for one workload: a mode for all its
// ports, and the workload policy's per-port overrides (keyed by workload target port).
type PeerAuthnPolicy struct {
	Mode    MutualTLSMode
	PerPort map[uint32]MutualTLSMode
}

// ModeForPort is the mode on a workload target port: its port-level override, else Mode.
func (p PeerAuthnPolicy) ModeForPort(port uint32) MutualTLSMode {
	if m, ok := p.PerPort[port]; ok {
		return m
	}
	return p.Mode
}

// authnIndex holds PeerAuthentication policies by namespace, each list oldest first (the
// Store's order), since the oldest policy of a scope wins.
type authnIndex struct {
	version       uint64
	rootNamespace string
	byNamespace   map[string][]*config.Config
}

func buildAuthnIndex(store *Store, root string) *authnIndex {
	idx := &authnIndex{version: nextIndexVersion(), rootNamespace: root, byNamespace: map[string][]*config.Config{}}
	for _, c := range store.List(schema.PeerAuthentication, "") {
		idx.byNamespace[c.Namespace] = append(idx.byNamespace[c.Namespace], c)
	}
	return idx
}

// isNamespaceWide reports whether a policy applies to its whole namespace: no selector, or
// one without labels.
func isNamespaceWide(pa *securityv1beta1.PeerAuthentication) bool {
	return len(pa.GetSelector().GetMatchLabels()) == 0
}

// namespacePolicy returns the oldest namespace-wide policy in ns, or nil.
func (idx *authnIndex) namespacePolicy(ns string) *securityv1beta1.PeerAuthentication {
	for _, c := range idx.byNamespace[ns] {
		if pa := c.Spec.(*securityv1beta1.PeerAuthentication); isNamespaceWide(pa) {
			return pa
		}
	}
	return nil
}

// workloadPolicy returns the oldest policy of ns whose selector selects the workload. Policies
// with a selector in the root namespace select nothing.
func (idx *authnIndex) workloadPolicy(ns string, workload map[string]string) *securityv1beta1.PeerAuthentication {
	if ns == idx.rootNamespace {
		return nil
	}
	for _, c := range idx.byNamespace[ns] {
		pa := c.Spec.(*securityv1beta1.PeerAuthentication)
		if !isNamespaceWide(pa) && labels.Instance(pa.GetSelector().GetMatchLabels()).SubsetOf(workload) {
			return pa
		}
	}
	return nil
}

func modeOf(m *securityv1beta1.PeerAuthentication_MutualTLS) MutualTLSMode {
	switch m.GetMode() {
	case securityv1beta1.PeerAuthentication_MutualTLS_DISABLE:
		return MTLSDisable
	case securityv1beta1.PeerAuthentication_MutualTLS_PERMISSIVE:
		return MTLSPermissive
	case securityv1beta1.PeerAuthentication_MutualTLS_STRICT:
		return MTLSStrict
	}
	return MTLSUnknown
}

// PeerAuthentication composes the policies that apply to a workload (namespace, labels) as
// istiod does: PERMISSIVE, overridden in turn by the mesh (root namespace) policy, the
// namespace policy and the workload policy, each only where its mode is set. A port-level
// setting left UNSET takes the composed workload mode.
func (pc *PushContext) PeerAuthentication(ns string, workload map[string]string) PeerAuthnPolicy {
	idx := pc.authn
	out := PeerAuthnPolicy{Mode: MTLSPermissive}
	scopes := []*securityv1beta1.PeerAuthentication{idx.namespacePolicy(idx.rootNamespace)}
	if ns != idx.rootNamespace {
		scopes = append(scopes, idx.namespacePolicy(ns))
	}
	wp := idx.workloadPolicy(ns, workload)
	scopes = append(scopes, wp)
	for _, pa := range scopes {
		if m := modeOf(pa.GetMtls()); m != MTLSUnknown {
			out.Mode = m
		}
	}
	if levels := wp.GetPortLevelMtls(); levels != nil {
		out.PerPort = make(map[uint32]MutualTLSMode, len(levels))
		for port, m := range levels {
			out.PerPort[port] = out.Mode
			if mode := modeOf(m); mode != MTLSUnknown {
				out.PerPort[port] = mode
			}
		}
	}
	return out
}

// InboundMTLSMode is the effective mTLS mode for a workload (namespace, labels) on a
// target port: the workload policy's port-level setting, its own mode, the namespace
// policy, the mesh (root namespace) policy, PERMISSIVE - each UNSET deferring to the next.
func (pc *PushContext) InboundMTLSMode(ns string, workload map[string]string, port int) MutualTLSMode {
	return pc.PeerAuthentication(ns, workload).ModeForPort(uint32(port))
}

// HasPeerAuthentication reports whether any PeerAuthentication exists (auto-mTLS then
// needs per-endpoint inference).
func (pc *PushContext) HasPeerAuthentication() bool { return len(pc.authn.byNamespace) > 0 }
