package model

import (
	securityv1beta1 "istio.io/api/security/v1beta1"
)

// NamespaceMTLSMode is the mTLS mode PeerAuthentication sets for a whole namespace: the
// oldest selector-less policy of ns (UNSET inheriting the mesh mode, PERMISSIVE if none),
// else the mesh-wide (root namespace) policy's mode (UNSET meaning PERMISSIVE). It is
// MTLSUnknown when neither exists. Workload and port-level policies are not considered:
// a client cannot know which workload it will reach.
func (pc *PushContext) NamespaceMTLSMode(ns string) MutualTLSMode {
	mesh := pc.scopeMTLSMode(pc.authn.rootNamespace)
	if ns == pc.authn.rootNamespace {
		return mesh
	}
	pa, ok := pc.scopePolicy(ns)
	if !ok {
		return mesh
	}
	if mode := modeOf(pa.GetMtls()); mode != MTLSUnknown {
		return mode
	}
	if mesh == MTLSUnknown {
		return MTLSPermissive
	}
	return mesh
}

// scopeMTLSMode is the mode of ns's selector-less policy, UNSET meaning PERMISSIVE, or
// MTLSUnknown without one.
func (pc *PushContext) scopeMTLSMode(ns string) MutualTLSMode {
	pa, ok := pc.scopePolicy(ns)
	if !ok {
		return MTLSUnknown
	}
	if mode := modeOf(pa.GetMtls()); mode != MTLSUnknown {
		return mode
	}
	return MTLSPermissive
}

// scopePolicy returns the oldest PeerAuthentication of ns without a selector (or with an
// empty one), which istiod treats as the namespace (or, in the root namespace, mesh)
// policy.
func (pc *PushContext) scopePolicy(ns string) (*securityv1beta1.PeerAuthentication, bool) {
	for _, c := range pc.authn.byNamespace[ns] {
		pa := c.Spec.(*securityv1beta1.PeerAuthentication)
		if len(pa.GetSelector().GetMatchLabels()) == 0 {
			return pa, true
		}
	}
	return nil, false
}

// ServiceMTLSMode is istiod's best-effort guess of whether port of svc accepts Istio mTLS,
// used by auto mTLS on the client side. It is MTLSUnknown for mesh-external services;
// MTLSDisable for passthrough traffic (a Passthrough service, or passthroughLB when a
// DestinationRule asks for PASSTHROUGH load balancing) unless every endpoint of the port
// has a sidecar; otherwise the service namespace's mode, PERMISSIVE by default.
func (pc *PushContext) ServiceMTLSMode(svc *Service, port int, passthroughLB bool) MutualTLSMode {
	if svc.MeshExternal {
		return MTLSUnknown
	}
	if svc.Resolution == Passthrough || passthroughLB {
		eps := pc.Endpoints(svc, port)
		if len(eps) == 0 {
			return MTLSDisable
		}
		for _, e := range eps {
			if e.TLSMode == "disabled" {
				return MTLSDisable
			}
		}
	}
	if mode := pc.NamespaceMTLSMode(svc.Namespace); mode != MTLSUnknown {
		return mode
	}
	return MTLSPermissive
}
