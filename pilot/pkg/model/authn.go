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

// authnIndex holds PeerAuthentication policies by namespace.
type authnIndex struct {
	rootNamespace string
	byNamespace   map[string][]*config.Config
}

func buildAuthnIndex(store *Store, root string) *authnIndex {
	idx := &authnIndex{rootNamespace: root, byNamespace: map[string][]*config.Config{}}
	for _, c := range store.List(schema.PeerAuthentication, "") {
		idx.byNamespace[c.Namespace] = append(idx.byNamespace[c.Namespace], c)
	}
	return idx
}

// namespacePolicy returns the oldest policy without a selector in ns.
func (idx *authnIndex) namespacePolicy(ns string) *securityv1beta1.PeerAuthentication {
	for _, c := range idx.byNamespace[ns] {
		pa := c.Spec.(*securityv1beta1.PeerAuthentication)
		if pa.GetSelector() == nil {
			return pa
		}
	}
	return nil
}

func (idx *authnIndex) workloadPolicy(ns string, workload map[string]string) *securityv1beta1.PeerAuthentication {
	for _, c := range idx.byNamespace[ns] {
		pa := c.Spec.(*securityv1beta1.PeerAuthentication)
		if sel := pa.GetSelector(); sel != nil && len(sel.GetMatchLabels()) > 0 &&
			labels.Instance(sel.GetMatchLabels()).SubsetOf(workload) {
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

// InboundMTLSMode is the effective mTLS mode for a workload (namespace, labels) on a
// target port: the workload policy's port-level setting, its own mode, the namespace
// policy, the mesh (root namespace) policy, PERMISSIVE - each UNSET deferring to the next.
func (pc *PushContext) InboundMTLSMode(ns string, workload map[string]string, port int) MutualTLSMode {
	idx := pc.authn
	mode := MTLSUnknown
	if wp := idx.workloadPolicy(ns, workload); wp != nil {
		if pm, ok := wp.GetPortLevelMtls()[uint32(port)]; ok {
			mode = modeOf(pm)
		}
		if mode == MTLSUnknown {
			mode = modeOf(wp.GetMtls())
		}
	}
	if mode == MTLSUnknown {
		mode = modeOf(idx.namespacePolicy(ns).GetMtls())
	}
	if mode == MTLSUnknown && ns != idx.rootNamespace {
		mode = modeOf(idx.namespacePolicy(idx.rootNamespace).GetMtls())
	}
	if mode == MTLSUnknown {
		mode = MTLSPermissive
	}
	return mode
}

// HasPeerAuthentication reports whether any PeerAuthentication exists (auto-mTLS then
// needs per-endpoint inference).
func (pc *PushContext) HasPeerAuthentication() bool { return len(pc.authn.byNamespace) > 0 }
