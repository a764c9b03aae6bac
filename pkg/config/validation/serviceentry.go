package validation

import (
	"strings"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/host"
	"github.com/sextant-mesh/sextant/pkg/config/protocol"
)

// labelAutoAllocate opts a ServiceEntry out of IP auto-allocation when "false".
const labelAutoAllocate = "networking.istio.io/enable-autoallocate-ip"

// labelUseWaypoint names the waypoint a resource uses ("none" for none).
const labelUseWaypoint = "istio.io/use-waypoint"

// validateServiceEntry applies istiod's ServiceEntry rules: hosts, addresses, ports,
// workloadSelector versus endpoints, what each resolution allows of hosts, addresses and
// endpoints, multiple hosts only with HTTP/TLS ports, and exportTo.
func validateServiceEntry(c *config.Config, r *report) {
	se, ok := specAs[*networkingv1alpha3.ServiceEntry](c, r)
	if !ok {
		return
	}
	if ws := se.WorkloadSelector; ws != nil {
		checkSelectorLabels(r, "spec.workloadSelector.labels", ws.Labels)
		if len(ws.Labels) == 0 {
			r.warnf("spec.workloadSelector", "service entry: workload selector specified without labels, "+
				"will be applied to all services in namespace")
		}
		if se.Endpoints != nil {
			r.errorf("spec", "only one of WorkloadSelector or Endpoints is allowed in Service Entry")
		}
	}
	checkServiceEntryHosts(r, se)
	cidr := false
	for i, a := range se.Addresses {
		cidr = cidr || strings.Contains(a, "/")
		r.add(path("spec.addresses").index(i), checkIPOrCIDR(a))
	}
	if cidr && se.Resolution != networkingv1alpha3.ServiceEntry_NONE && se.Resolution != networkingv1alpha3.ServiceEntry_STATIC {
		r.errorf("spec.addresses", "CIDR addresses are allowed only for NONE/STATIC resolution types")
	}
	portNames := checkServiceEntryPorts(r, c, se)
	checkResolution(r, c, se, portNames)
	// Several hosts on one plain TCP port cannot be told apart, except without resolution
	// (NONE), where hosts are not used.
	if se.Resolution != networkingv1alpha3.ServiceEntry_NONE && len(se.Hosts) > 1 {
		for i, p := range se.Ports {
			if proto := protocol.Parse(p.GetProtocol()); !proto.IsHTTP() && !proto.IsTLS() {
				r.errorf(path("spec.ports").index(i), "multiple hosts provided with non-HTTP, non-TLS ports")
				break
			}
		}
	}
	checkExportTo(r, c.Namespace, se.ExportTo, true, false)
}

func checkServiceEntryHosts(r *report, se *networkingv1alpha3.ServiceEntry) {
	if len(se.Hosts) == 0 {
		r.errorf("spec.hosts", "service entry must have at least one host")
	}
	for i, h := range se.Hosts {
		hp := path("spec.hosts").index(i)
		if h == "*" {
			r.errorf(hp, "invalid host %s", h)
			continue
		}
		r.add(hp, checkWildcardDomain(h))
		if se.Resolution != networkingv1alpha3.ServiceEntry_DYNAMIC_DNS {
			if err := checkPartialWildcard(h); err != nil {
				r.warnf(hp, "%v", err)
			}
		}
	}
}

// checkServiceEntryPorts checks the ports (unique names and numbers, valid name, number,
// target port and protocol) and returns the set of port names.
func checkServiceEntryPorts(r *report, c *config.Config, se *networkingv1alpha3.ServiceEntry) map[string]bool {
	autoAllocate := autoAllocatesIP(c, se)
	names, numbers := map[string]bool{}, map[uint32]bool{}
	for i, port := range se.Ports {
		pp := path("spec.ports").index(i)
		if port == nil {
			r.errorf(pp, "service entry port may not be null")
			continue
		}
		if names[port.Name] {
			r.errorf(pp.field("name"), "service entry port name %q already defined", port.Name)
		}
		if numbers[port.Number] {
			r.errorf(pp.field("number"), "service entry port %d already defined", port.Number)
		}
		names[port.Name], numbers[port.Number] = true, true
		if port.TargetPort != 0 {
			r.add(pp.field("targetPort"), checkPort(int64(port.TargetPort)))
		}
		if len(se.Addresses) == 0 && !autoAllocate && (port.Protocol == "" || port.Protocol == "TCP") {
			r.warnf(pp, "addresses are required for ports serving TCP (or unset) protocol when IP Autoallocation is not enabled")
		}
		r.add(pp.field("name"), checkPortName(port.Name))
		r.add(pp.field("protocol"), checkProtocol(port.Protocol))
		r.add(pp.field("number"), checkPort(int64(port.Number)))
	}
	return names
}

// autoAllocatesIP reports whether istiod (with its default PILOT_ENABLE_IP_AUTOALLOCATE)
// allocates a virtual IP to se: it does unless the resolution is NONE, the user opted
// out, or addresses are given.
func autoAllocatesIP(c *config.Config, se *networkingv1alpha3.ServiceEntry) bool {
	if se.Resolution == networkingv1alpha3.ServiceEntry_NONE {
		return false
	}
	if v, ok := c.Labels[labelAutoAllocate]; ok && strings.EqualFold(v, "false") {
		return false
	}
	return len(se.Addresses) == 0
}

// checkResolution applies what each resolution allows.
func checkResolution(r *report, c *config.Config, se *networkingv1alpha3.ServiceEntry, portNames map[string]bool) {
	switch se.Resolution {
	case networkingv1alpha3.ServiceEntry_NONE:
		if len(se.Endpoints) != 0 {
			r.errorf("spec.endpoints", "no endpoints should be provided for resolution type none")
		}
		if se.WorkloadSelector != nil {
			r.warnf("spec.workloadSelector", "workloadSelector should not be set when resolution mode is NONE")
		}
	case networkingv1alpha3.ServiceEntry_STATIC:
		for i, e := range se.Endpoints {
			if e == nil {
				r.errorf(path("spec.endpoints").index(i), "endpoint cannot be nil")
				continue
			}
			checkWorkload(r, path("spec.endpoints").index(i), e, portNames, false)
		}
	case networkingv1alpha3.ServiceEntry_DNS, networkingv1alpha3.ServiceEntry_DNS_ROUND_ROBIN:
		checkDNSResolution(r, se, portNames)
	case networkingv1alpha3.ServiceEntry_DYNAMIC_DNS:
		checkDynamicDNSResolution(r, c, se)
	default:
		r.errorf("spec.resolution", "unsupported resolution type %s", se.Resolution)
	}
}

// checkDNSResolution: without endpoints the hosts are resolved, so they must be FQDNs;
// DNS_ROUND_ROBIN takes one endpoint at most; endpoints are IPs or FQDNs.
func checkDNSResolution(r *report, se *networkingv1alpha3.ServiceEntry, portNames map[string]bool) {
	if len(se.Endpoints) == 0 {
		for i, h := range se.Hosts {
			if err := checkFQDN(h); err != nil {
				r.errorf(path("spec.hosts").index(i), "hosts must be FQDN or contain only prefix wildcards if no endpoints "+
					"are provided for resolution mode %s, %v", se.Resolution, err)
				break
			}
		}
	}
	if se.Resolution == networkingv1alpha3.ServiceEntry_DNS_ROUND_ROBIN && len(se.Endpoints) > 1 {
		r.errorf("spec.endpoints", "there must only be 0 or 1 endpoint for resolution mode %s", se.Resolution)
	}
	for i, e := range se.Endpoints {
		ep := path("spec.endpoints").index(i)
		if e == nil {
			r.errorf(ep, "endpoint cannot be nil")
			continue
		}
		if !isIP(e.Address) && checkFQDN(e.Address) != nil {
			r.errorf(ep.field("address"), "endpoint address %q is not a valid FQDN or an IP address", e.Address)
		}
		checkLabels(r, ep.field("labels"), e.Labels)
		checkEndpointPorts(r, ep.field("ports"), e.Ports, portNames)
	}
	if len(se.Addresses) > 0 && len(se.Hosts) > 1 {
		for i, p := range se.Ports {
			if protocol.Parse(p.GetProtocol()).IsTCP() {
				r.warnf(path("spec.ports").index(i), "service entry can not have more than one host specified "+
					"simultaneously with address and tcp port")
				break
			}
		}
	}
}

// checkDynamicDNSResolution: DYNAMIC_DNS resolves each request's host through Envoy's
// dynamic forward proxy, so hosts are wildcards, with no addresses or endpoints, on
// HTTP, HTTP2, GRPC or TLS ports.
func checkDynamicDNSResolution(r *report, c *config.Config, se *networkingv1alpha3.ServiceEntry) {
	res := se.Resolution
	if len(se.Hosts) == 0 {
		r.errorf("spec.hosts", "at least one wildcard host must be provided for resolution type %s", res)
	}
	for i, h := range se.Hosts {
		if !host.Name(h).IsWildcard() {
			r.errorf(path("spec.hosts").index(i), "host must be wildcarded for resolution mode %s", res)
		}
	}
	if len(se.Addresses) != 0 {
		r.errorf("spec.addresses", "addresses cannot be set for resolution type %s. HTTP route domains will only be "+
			"generated from the hosts field values", res)
	}
	if len(se.Endpoints) != 0 {
		r.errorf("spec.endpoints", "endpoints cannot be set for resolution type %s. Destination IP address determined "+
			"from hosts field values", res)
	}
	for i, p := range se.Ports {
		switch protocol.Parse(p.GetProtocol()) {
		case protocol.HTTP, protocol.TLS, protocol.GRPC, protocol.HTTP2:
		default:
			r.errorf(path("spec.ports").index(i).field("protocol"),
				"only HTTP, TLS, GRPC, and HTTP2 protocols are supported for resolution type %s", res)
		}
	}
	loc := se.Location
	if loc != networkingv1alpha3.ServiceEntry_MESH_EXTERNAL && loc != networkingv1alpha3.ServiceEntry_MESH_INTERNAL {
		r.errorf("spec.location", "location must be MESH_EXTERNAL or MESH_INTERNAL for resolution type %s", res)
	}
	if w, ok := c.Labels[labelUseWaypoint]; loc == networkingv1alpha3.ServiceEntry_MESH_INTERNAL && ok && w != "" &&
		!strings.EqualFold(w, "none") {
		r.errorf("spec.location", "location MESH_INTERNAL with resolution type %s is not supported when using waypoints", res)
	}
}
