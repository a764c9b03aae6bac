package model

import (
	"fmt"
	"net/netip"
	"strings"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/host"
	"github.com/sextant-mesh/sextant/pkg/config/labels"
	"github.com/sextant-mesh/sextant/pkg/config/protocol"
)

// compiledEntry is a ServiceEntry converted when it was stored (see Store): one service
// per host, with its endpoints unless the entry selects WorkloadEntries, whose endpoints
// are resolved when the services are indexed.
type compiledEntry struct {
	entries []sourced
	selects bool
}

// compileServiceEntry is the ServiceEntry compiler.
func compileServiceEntry(c *config.Config, ctx compileContext) any {
	se := c.Spec.(*networkingv1alpha3.ServiceEntry)
	ce := &compiledEntry{selects: se.WorkloadSelector != nil}
	for _, h := range se.Hosts {
		s := serviceEntryService(c, se, h)
		var eps []*Endpoint
		if !ce.selects {
			eps = serviceEntryEndpoints(c, se, s, nil, ctx)
			sortEndpoints(eps)
		}
		ce.entries = append(ce.entries, sourced{src: c, svc: s, eps: eps})
	}
	return ce
}

func serviceEntryService(c *config.Config, se *networkingv1alpha3.ServiceEntry, h string) *Service {
	s := &Service{
		Hostname:        host.Name(h),
		Source:          c.Key(),
		Name:            h,
		Namespace:       c.Namespace,
		Registry:        External,
		MeshExternal:    se.Location == networkingv1alpha3.ServiceEntry_MESH_EXTERNAL,
		ExportTo:        ExportSet(se.ExportTo),
		Labels:          c.Labels,
		ServiceAccounts: se.SubjectAltNames,
		CreationTime:    c.CreationTimestamp,
		DefaultAddress:  "0.0.0.0",
		TargetPorts:     map[int]int{},
	}
	switch se.Resolution {
	case networkingv1alpha3.ServiceEntry_NONE:
		s.Resolution = Passthrough
	case networkingv1alpha3.ServiceEntry_DNS:
		s.Resolution = DNSLB
	case networkingv1alpha3.ServiceEntry_DNS_ROUND_ROBIN:
		s.Resolution = DNSRoundRobinLB
	default:
		s.Resolution = ClientSideLB
	}
	if se.WorkloadSelector != nil {
		s.Selector = se.WorkloadSelector.Labels
	}
	for _, a := range se.Addresses {
		if p, err := netip.ParsePrefix(a); err == nil && p.Bits() == p.Addr().BitLen() {
			a = p.Addr().String()
		}
		s.Addresses = append(s.Addresses, a)
	}
	if len(s.Addresses) > 0 {
		s.DefaultAddress = s.Addresses[0]
	}
	for _, p := range se.Ports {
		s.Ports = append(s.Ports, &Port{Name: p.Name, Port: int(p.Number), Protocol: protocol.Parse(p.Protocol)})
		if p.TargetPort != 0 {
			s.TargetPorts[int(p.Number)] = int(p.TargetPort)
		}
	}
	return s
}

func serviceEntryEndpoints(c *config.Config, se *networkingv1alpha3.ServiceEntry, s *Service,
	wles []*config.Config, ctx compileContext,
) []*Endpoint {
	var out []*Endpoint
	if len(se.Endpoints) == 0 && se.WorkloadSelector == nil && (s.Resolution == DNSLB || s.Resolution == DNSRoundRobinLB) {
		for _, p := range se.Ports {
			out = append(out, &Endpoint{
				Address:          string(s.Hostname),
				EndpointPort:     targetPort(p, nil),
				ServicePortName:  p.Name,
				ServicePort:      int(p.Number),
				TLSMode:          "disabled",
				ClusterID:        ctx.clusterID,
				Namespace:        c.Namespace,
				WorkloadName:     c.Name,
				FromServiceEntry: true,
			})
		}
		return out
	}
	for i, we := range se.Endpoints {
		out = append(out, workloadEntryEndpoints(we, fmt.Sprintf("%s-%d", c.Name, i), c.Namespace, se.Ports, ctx)...)
	}
	if se.WorkloadSelector != nil {
		for _, wc := range wles {
			we := wc.Spec.(*networkingv1alpha3.WorkloadEntry)
			if wc.Namespace != c.Namespace || !labels.Instance(se.WorkloadSelector.Labels).SubsetOf(we.Labels) {
				continue
			}
			out = append(out, workloadEntryEndpoints(we, workloadEntryName(wc.Name, wc.Annotations, wc.Labels), wc.Namespace, se.Ports, ctx)...)
		}
	}
	return out
}

func targetPort(p *networkingv1alpha3.ServicePort, we *networkingv1alpha3.WorkloadEntry) int {
	if n := we.GetPorts()[p.Name]; n > 0 {
		return int(n)
	}
	if p.TargetPort > 0 {
		return int(p.TargetPort)
	}
	return int(p.Number)
}

func workloadEntryEndpoints(we *networkingv1alpha3.WorkloadEntry, name, ns string, ports []*networkingv1alpha3.ServicePort,
	ctx compileContext,
) []*Endpoint {
	tlsMode := "disabled"
	if v, ok := we.Labels[labelTLSMode]; ok {
		tlsMode = v
	} else if we.ServiceAccount != "" {
		tlsMode = "istio"
	}
	var loc Locality
	if we.Locality != "" {
		parts := strings.SplitN(we.Locality, "/", 3)
		for len(parts) < 3 {
			parts = append(parts, "")
		}
		loc = Locality{Region: parts[0], Zone: parts[1], Subzone: parts[2]}
	}
	sa := ""
	if we.ServiceAccount != "" {
		sa = spiffeID(ctx.trustDomain, ns, we.ServiceAccount)
	}
	var out []*Endpoint
	for _, p := range ports {
		out = append(out, &Endpoint{
			Address:          we.Address,
			EndpointPort:     targetPort(p, we),
			ServicePortName:  p.Name,
			ServicePort:      int(p.Number),
			Labels:           we.Labels,
			ServiceAccount:   sa,
			TLSMode:          tlsMode,
			Network:          we.Network,
			Locality:         loc,
			ClusterID:        ctx.clusterID,
			Weight:           we.Weight,
			WorkloadName:     name,
			Namespace:        ns,
			FromServiceEntry: true,
		})
	}
	return out
}
