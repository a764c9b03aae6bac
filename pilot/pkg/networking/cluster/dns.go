package cluster

import (
	"math"
	"sort"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pkg/config/labels"
)

// dnsEndpoints are the endpoints of a DNS cluster, grouped by locality as its inline load
// assignment lists them.
type dnsEndpoints struct {
	groups []*endpointv3.LocalityLbEndpoints
	eps    [][]*model.Endpoint
}

func (d *dnsEndpoints) localities() []*endpointv3.LocalityLbEndpoints {
	if d == nil {
		return nil
	}
	return d.groups
}

// ordered lists the model endpoints in load assignment order.
func (d *dnsEndpoints) ordered() []*model.Endpoint {
	if d == nil {
		return nil
	}
	var out []*model.Endpoint
	for _, g := range d.eps {
		out = append(out, g...)
	}
	return out
}

// dnsEndpoints collects the endpoints of a DNS service port (of a subset's labels), as
// EDS would serve them: terminating endpoints dropped, unhealthy ones kept unless outlier
// detection sets a minimum health percentage, grouped by locality in locality order.
func (b *builder) dnsEndpoints(o *outbound, subset string) *dnsEndpoints {
	dr := o.rule.Spec()
	policy := model.SubsetTrafficPolicy(dr, subset, o.port.Port)
	keepUnhealthy := policy.GetOutlierDetection().GetMinHealthPercent() <= 0
	selector := model.FindSubset(dr, subset).GetLabels()
	byLocality := map[string]int{}
	out := &dnsEndpoints{}
	var keys []string
	for _, e := range b.pc.Endpoints(o.svc, o.port.Port) {
		if e.HealthStatus == model.Terminating || (e.HealthStatus == model.Unhealthy && !keepUnhealthy) ||
			(e.HealthStatus == model.Draining && !o.svc.KeepsDrainingEndpoints()) || e.Address == "" || !labels.Instance(selector).SubsetOf(e.Labels) {
			continue
		}
		loc := e.Locality.String()
		i, ok := byLocality[loc]
		if !ok {
			i = len(out.groups)
			byLocality[loc] = i
			keys = append(keys, loc)
			out.groups = append(out.groups, &endpointv3.LocalityLbEndpoints{Locality: localityOf(e.Locality)})
			out.eps = append(out.eps, nil)
		}
		mtls := b.endpointMTLS(e, dr, subset, o.port.Port)
		out.groups[i].LbEndpoints = append(out.groups[i].LbEndpoints, lbEndpoint(e, mtls))
		out.eps[i] = append(out.eps[i], e)
	}
	if len(out.groups) == 0 {
		return nil
	}
	out.sortByLocality(keys)
	for _, g := range out.groups {
		var w uint64
		for _, le := range g.LbEndpoints {
			w += uint64(le.GetLoadBalancingWeight().GetValue())
		}
		g.LoadBalancingWeight = wrapperspb.UInt32(uint32(min(w, math.MaxUint32)))
	}
	return out
}

// sortByLocality orders the groups by locality label, as istiod does.
func (d *dnsEndpoints) sortByLocality(keys []string) {
	idx := make([]int, len(keys))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return keys[idx[a]] < keys[idx[b]] })
	groups, eps := make([]*endpointv3.LocalityLbEndpoints, len(idx)), make([][]*model.Endpoint, len(idx))
	for to, from := range idx {
		groups[to], eps[to] = d.groups[from], d.eps[from]
	}
	d.groups, d.eps = groups, eps
}

func localityOf(l model.Locality) *corev3.Locality {
	return &corev3.Locality{Region: l.Region, Zone: l.Zone, SubZone: l.Subzone}
}

// endpointMTLS reports whether the endpoint gets the tlsMode=istio socket match: the
// DestinationRule's TLS mode decides if it sets one, else the endpoint must have a
// sidecar that does not disable mTLS on its port.
func (b *builder) endpointMTLS(e *model.Endpoint, dr *networkingv1alpha3.DestinationRule, subset string, port int) bool {
	if mode, ok := drTLSMode(dr, subset, port); ok {
		return mode == networkingv1alpha3.ClientTLSSettings_ISTIO_MUTUAL
	}
	if e.TLSMode != "istio" {
		return false
	}
	return b.pc.InboundMTLSMode(e.Namespace, e.Labels, e.EndpointPort) != model.MTLSDisable
}

// drTLSMode is the TLS mode a DestinationRule sets for a port and subset, if any.
func drTLSMode(dr *networkingv1alpha3.DestinationRule, subset string, port int) (networkingv1alpha3.ClientTLSSettings_TLSmode, bool) {
	if dr == nil {
		return 0, false
	}
	if subset != "" {
		for _, s := range dr.GetSubsets() {
			if s.GetName() == subset {
				if m, ok := policyTLSMode(s.GetTrafficPolicy(), port); ok {
					return m, true
				}
				return policyTLSMode(dr.GetTrafficPolicy(), port)
			}
		}
		return 0, false
	}
	return policyTLSMode(dr.GetTrafficPolicy(), port)
}

func policyTLSMode(tp *networkingv1alpha3.TrafficPolicy, port int) (networkingv1alpha3.ClientTLSSettings_TLSmode, bool) {
	mode, ok := tp.GetTls().GetMode(), tp.GetTls() != nil
	for _, pl := range tp.GetPortLevelSettings() {
		if int(pl.GetPort().GetNumber()) == port && pl.GetTls() != nil {
			return pl.GetTls().GetMode(), true
		}
	}
	return mode, ok
}

// lbEndpoint renders one endpoint with istiod's metadata: the socket match label for
// mTLS-capable endpoints and the compact workload identity for telemetry.
func lbEndpoint(e *model.Endpoint, mtls bool) *endpointv3.LbEndpoint {
	weight := e.Weight
	if weight == 0 {
		weight = 1
	}
	md := &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{}}
	if mtls && e.TLSMode != "" && e.TLSMode != "disabled" {
		md.FilterMetadata["envoy.transport_socket_match"] = &structpb.Struct{Fields: map[string]*structpb.Value{
			"tlsMode": structpb.NewStringValue(e.TLSMode),
		}}
	}
	name, rev := canonicalService(e.Labels, e.WorkloadName)
	workload := strings.Join([]string{e.WorkloadName, e.Namespace, name, rev, e.ClusterID}, ";")
	md.FilterMetadata[istioMetadataKey] = &structpb.Struct{Fields: map[string]*structpb.Value{
		"workload": structpb.NewStringValue(workload),
	}}
	return &endpointv3.LbEndpoint{
		HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
			Address: socketAddress(e.Address, e.EndpointPort),
		}},
		HealthStatus:        corev3.HealthStatus(e.HealthStatus),
		LoadBalancingWeight: wrapperspb.UInt32(weight),
		Metadata:            md,
	}
}

// canonicalService is the workload's canonical service name and revision ("" for the
// default "latest").
func canonicalService(l map[string]string, workload string) (string, string) {
	name, rev := workload, ""
	for _, k := range []string{"service.istio.io/canonical-name", "app.kubernetes.io/name", "app"} {
		if v, ok := l[k]; ok {
			name = v
			break
		}
	}
	for _, k := range []string{"service.istio.io/canonical-revision", "app.kubernetes.io/version", "version"} {
		if v, ok := l[k]; ok {
			rev = v
			break
		}
	}
	if rev == "latest" {
		rev = ""
	}
	return name, rev
}

func socketAddress(addr string, port int) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address:       addr,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(port)},
	}}}
}

func wrapUInt32(v int) *wrapperspb.UInt32Value { return wrapperspb.UInt32(uint32(v)) }
