package validation

import (
	"strings"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pkg/config"
)

// validateWorkloadEntry applies istiod's WorkloadEntry rules: an address (IP, hostname or
// Unix socket; optional only with a network), valid port names and numbers, labels.
func validateWorkloadEntry(c *config.Config, r *report) {
	we, ok := specAs[*networkingv1alpha3.WorkloadEntry](c, r)
	if !ok {
		return
	}
	checkWorkload(r, "spec", we, nil, true)
}

// checkWorkload checks a WorkloadEntry or a ServiceEntry endpoint at p. servicePorts, when
// not nil, are the port names of the ServiceEntry the endpoint belongs to; allowFQDN
// accepts hostnames as addresses.
func checkWorkload(r *report, p path, we *networkingv1alpha3.WorkloadEntry, servicePorts map[string]bool, allowFQDN bool) {
	addr := we.Address
	if addr == "" {
		if we.Network == "" {
			r.errorf(p.field("address"), "address is required")
			return
		}
		r.warnf(p.field("address"), "address is unset with network %q", we.Network)
	}
	unix := strings.HasPrefix(addr, unixAddressPrefix)
	switch {
	case unix:
		r.add(p.field("address"), checkUnixAddress(strings.TrimPrefix(addr, unixAddressPrefix)))
		if len(we.Ports) != 0 {
			r.errorf(p.field("ports"), "unix endpoint %s must not include ports", addr)
		}
	case addr == "" || isIP(addr):
	case !allowFQDN:
		r.errorf(p.field("address"), "endpoint address %q is not a valid IP address", addr)
	case checkFQDN(addr) != nil:
		r.errorf(p.field("address"), "endpoint address %q is not a valid FQDN or an IP address", addr)
	}
	checkEndpointPorts(r, p.field("ports"), we.Ports, servicePorts)
	checkLabels(r, p.field("labels"), we.Labels)
	if unix && servicePorts != nil && len(servicePorts) != 1 {
		r.errorf(p.field("address"), "exactly 1 service port required for unix endpoints")
	}
}

// checkEndpointPorts checks the named ports of an endpoint, and that each names a port of
// the ServiceEntry (when servicePorts is not nil).
func checkEndpointPorts(r *report, p path, ports map[string]uint32, servicePorts map[string]bool) {
	for _, name := range sortedKeys(ports) {
		pp := p.key(name)
		if servicePorts != nil && !servicePorts[name] {
			r.errorf(pp, "endpoint port %v is not defined by the service entry", ports[name])
		}
		r.add(pp, checkPortName(name))
		r.add(pp, checkPort(int64(ports[name])))
	}
}

// validateWorkloadGroup applies istiod's WorkloadGroup rules: a template (whose address
// may be empty: it is filled in per workload), valid metadata labels, a sound probe.
func validateWorkloadGroup(c *config.Config, r *report) {
	wg, ok := specAs[*networkingv1alpha3.WorkloadGroup](c, r)
	if !ok {
		return
	}
	if wg.Template == nil {
		r.errorf("spec.template", "template is required")
	}
	if wg.Metadata != nil {
		checkLabels(r, "spec.metadata.labels", wg.Metadata.Labels)
	}
	checkReadinessProbe(r, "spec.probe", wg.Probe)
}

func checkReadinessProbe(r *report, p path, probe *networkingv1alpha3.ReadinessProbe) {
	if probe == nil {
		return
	}
	for _, f := range []struct {
		name string
		v    int32
	}{
		{"periodSeconds", probe.PeriodSeconds}, {"initialDelaySeconds", probe.InitialDelaySeconds},
		{"timeoutSeconds", probe.TimeoutSeconds}, {"successThreshold", probe.SuccessThreshold},
		{"failureThreshold", probe.FailureThreshold},
	} {
		if f.v < 0 {
			r.errorf(p.field(f.name), "%s must be non-negative", f.name)
		}
	}
	switch m := probe.HealthCheckMethod.(type) {
	case *networkingv1alpha3.ReadinessProbe_HttpGet:
		hp := p.field("httpGet")
		h := m.HttpGet
		if h == nil {
			r.errorf(hp, "httpGet may not be nil")
			return
		}
		r.add(hp.field("port"), checkPort(int64(h.Port)))
		if h.Scheme != "" && h.Scheme != "HTTPS" && h.Scheme != "HTTP" {
			r.errorf(hp.field("scheme"), `httpGet.scheme must be one of "HTTPS", "HTTP"`)
		}
		for i, hdr := range h.HttpHeaders {
			if hdr == nil {
				r.errorf(hp.field("httpHeaders").index(i), "invalid nil header")
				continue
			}
			r.add(hp.field("httpHeaders").index(i).field("name"), checkProbeHeaderName(hdr.Name))
		}
	case *networkingv1alpha3.ReadinessProbe_TcpSocket:
		if m.TcpSocket == nil {
			r.errorf(p.field("tcpSocket"), "tcpSocket may not be nil")
			return
		}
		r.add(p.field("tcpSocket.port"), checkPort(int64(m.TcpSocket.Port)))
	case *networkingv1alpha3.ReadinessProbe_Exec:
		if m.Exec == nil {
			r.errorf(p.field("exec"), "exec may not be nil")
			return
		}
		if len(m.Exec.Command) == 0 {
			r.errorf(p.field("exec.command"), "exec.command is required")
		}
	default:
		r.errorf(p, "unknown health check method %T", m)
	}
}
