package model

import (
	"google.golang.org/protobuf/proto"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/host"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

// MeshGateway is the gateway name that stands for all sidecars in VirtualService.gateways.
const MeshGateway = "mesh"

// virtualServiceIndex holds VirtualServices with short host names resolved, by the
// gateways they bind to.
type virtualServiceIndex struct {
	// byGateway lists, per gateway name ("mesh" or "namespace/name"), the VirtualServices
	// bound to it, in SortConfigs order.
	byGateway map[string][]*config.Config
	// delegates are VirtualServices without hosts, referenced by other VirtualServices.
	delegates map[config.Key]*config.Config
}

func buildVirtualServiceIndex(store *Store, pc *PushContext, _ *[]error) *virtualServiceIndex {
	idx := &virtualServiceIndex{byGateway: map[string][]*config.Config{}, delegates: map[config.Key]*config.Config{}}
	for _, c := range store.List(schema.VirtualService, "") {
		vs := c.Spec.(*networkingv1alpha3.VirtualService)
		if len(vs.Hosts) == 0 {
			idx.delegates[c.Key()] = c
			continue
		}
		r := resolveVirtualService(c, pc.Options.DomainSuffix)
		gws := vs.Gateways
		if len(gws) == 0 {
			gws = []string{MeshGateway}
		}
		for _, gw := range gws {
			if gw != MeshGateway {
				gw = resolveGatewayName(gw, c.Namespace)
			}
			idx.byGateway[gw] = append(idx.byGateway[gw], r)
		}
	}
	return idx
}

// resolveGatewayName turns "gw" or "ns/gw" into "ns/gw".
func resolveGatewayName(gw, ns string) string {
	for i := 0; i < len(gw); i++ {
		if gw[i] == '/' {
			return gw
		}
	}
	return ns + "/" + gw
}

// resolveVirtualService returns a copy of c whose hosts and destination hosts are fully
// qualified relative to c's namespace.
func resolveVirtualService(c *config.Config, domain string) *config.Config {
	vs := proto.Clone(c.Spec.(*networkingv1alpha3.VirtualService)).(*networkingv1alpha3.VirtualService)
	for i, h := range vs.Hosts {
		vs.Hosts[i] = string(ResolveShortname(h, c.Namespace, domain))
	}
	fix := func(d *networkingv1alpha3.Destination) {
		if d != nil {
			d.Host = string(ResolveShortname(d.Host, c.Namespace, domain))
		}
	}
	for _, r := range vs.Http {
		for _, d := range r.Route {
			fix(d.Destination)
		}
		fix(r.Mirror)
		for _, m := range r.Mirrors {
			fix(m.Destination)
		}
	}
	for _, r := range vs.Tcp {
		for _, d := range r.Route {
			fix(d.Destination)
		}
	}
	for _, r := range vs.Tls {
		for _, d := range r.Route {
			fix(d.Destination)
		}
	}
	out := *c
	out.Spec = vs
	return &out
}

// VirtualServicesForGateway returns the VirtualServices bound to gateway ("mesh" for
// sidecars) that are visible from namespace ns.
func (pc *PushContext) VirtualServicesForGateway(ns, gateway string) []*config.Config {
	var out []*config.Config
	for _, c := range pc.virtualServices.byGateway[gateway] {
		exp := ExportSet(c.Spec.(*networkingv1alpha3.VirtualService).ExportTo)
		if len(exp) == 0 {
			exp = pc.exportDefaults.virtualService
		}
		if visible(exp, c.Namespace, ns) {
			out = append(out, c)
		}
	}
	return out
}

// selectVirtualServices picks the mesh VirtualServices visible from ns whose hosts an
// egress listener imports.
func (pc *PushContext) selectVirtualServices(ns string, imports map[string]*hostImports) []*config.Config {
	var out []*config.Config
	for _, c := range pc.VirtualServicesForGateway(ns, MeshGateway) {
		vs := c.Spec.(*networkingv1alpha3.VirtualService)
		for _, h := range vs.Hosts {
			hn := host.Name(h)
			if hi := imports[c.Namespace]; hi != nil && hi.matchesVirtualService(hn) {
				out = append(out, c)
				break
			}
			if hi := imports["*"]; hi != nil && hi.matchesVirtualService(hn) {
				out = append(out, c)
				break
			}
		}
	}
	return out
}

// Delegate returns the delegate VirtualService named by ref (name, namespace defaulting
// to ns), or nil.
func (pc *PushContext) Delegate(name, namespace string) *config.Config {
	return pc.virtualServices.delegates[config.Key{Kind: schema.VirtualService, Namespace: namespace, Name: name}]
}
