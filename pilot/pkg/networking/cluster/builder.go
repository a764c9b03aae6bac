package cluster

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	caresv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/network/dns_resolver/cares/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/protoconv"
	"github.com/sextant-mesh/sextant/pkg/config/protocol"
)

// Names and settings istiod uses.
const (
	BlackHoleCluster          = "BlackHoleCluster"
	PassthroughCluster        = "PassthroughCluster"
	InboundPassthroughCluster = "InboundPassthroughCluster"

	httpProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
	// dnsJitter and caresUDPMaxQueries are istiod's PILOT_DNS_JITTER_DURATION and
	// PILOT_DNS_CARES_UDP_MAX_QUERIES defaults.
	dnsJitter          = 100 * time.Millisecond
	caresUDPMaxQueries = 100
	// maxCleanupSeconds disables ORIGINAL_DST host cleanup: the largest duration Envoy
	// accepts, as istiod sets it on inbound clusters.
	maxCleanupSeconds = 9223372035
)

// builder holds what every cluster of one proxy depends on.
type builder struct {
	pc    *model.PushContext
	proxy *model.Proxy
	mesh  *meshv1alpha1.MeshConfig
	// ipv4 and ipv6 say which address families the proxy has.
	ipv4, ipv6 bool
	// inboundHosts are the hostnames of the services each inbound cluster serves, by
	// cluster name, for EnvoyFilter cluster matches.
	inboundHosts map[string][]string
}

func newBuilder(pc *model.PushContext, p *model.Proxy) *builder {
	b := &builder{pc: pc, proxy: p, mesh: pc.Mesh}
	for _, ip := range p.IPAddresses {
		if a, err := netip.ParseAddr(ip); err == nil {
			if a.Is4() || a.Is4In6() {
				b.ipv4 = true
			} else {
				b.ipv6 = true
			}
		}
	}
	return b
}

// draft is a cluster under construction. Its HTTP protocol options are kept apart and
// packed into typed_extension_protocol_options by finish, once every policy had its say.
type draft struct {
	c    *clusterv3.Cluster
	http *httpv3.HttpProtocolOptions
	// endpoints are the model endpoints behind a DNS cluster's load assignment, in the
	// order of its lb_endpoints, for failover priorities.
	endpoints []*model.Endpoint
}

// newDraft starts a cluster: name, discovery type, alternate stat name and, for DNS and
// STATIC clusters, the load assignment. It returns nil for a DNS or STATIC cluster without
// endpoints, which istiod does not emit.
func (b *builder) newDraft(name string, typ clusterv3.Cluster_DiscoveryType, lle []*endpointv3.LocalityLbEndpoints) *draft {
	c := &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: typ},
		CommonLbConfig:       &clusterv3.Cluster_CommonLbConfig{},
		AltStatName:          name + ";",
	}
	switch typ {
	case clusterv3.Cluster_STRICT_DNS, clusterv3.Cluster_LOGICAL_DNS:
		b.setDNS(c)
		fallthrough
	case clusterv3.Cluster_STATIC:
		if len(lle) == 0 {
			return nil
		}
		c.LoadAssignment = &endpointv3.ClusterLoadAssignment{ClusterName: name, Endpoints: lle}
	}
	return &draft{c: c}
}

// setDNS applies istiod's resolver settings to a DNS cluster.
func (b *builder) setDNS(c *clusterv3.Cluster) {
	c.DnsLookupFamily = clusterv3.Cluster_V4_ONLY
	if b.ipv6 && !b.ipv4 {
		c.DnsLookupFamily = clusterv3.Cluster_V6_ONLY
	}
	c.TypedDnsResolverConfig = &corev3.TypedExtensionConfig{
		Name:        "envoy.network.dns_resolver.cares",
		TypedConfig: protoconv.MessageToAny(&caresv3.CaresDnsResolverConfig{UdpMaxQueries: wrapperspb.UInt32(caresUDPMaxQueries)}),
	}
	c.DnsJitter = durationpb.New(dnsJitter)       //nolint:staticcheck // istiod still sets it
	c.DnsRefreshRate = b.mesh.GetDnsRefreshRate() //nolint:staticcheck // istiod still sets it
	c.RespectDnsTtl = true                        //nolint:staticcheck // istiod still sets it
}

// setUpstreamProtocol picks the upstream HTTP protocol from the port's protocol: HTTP/2
// for HTTP2 and gRPC ports, the downstream's protocol for undeclared (sniffed) ports.
func (b *builder) setUpstreamProtocol(d *draft, port *model.Port) {
	if port.Protocol.IsHTTP2() {
		d.setH2()
		return
	}
	sniffed := port.Protocol == "" || port.Protocol == protocol.Unsupported
	if (port.Protocol.IsHTTP() || sniffed) && b.preserveHeaderCase() {
		d.options().UpstreamProtocolOptions = &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{
			ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_HttpProtocolOptions{
					HttpProtocolOptions: preserveCaseHTTP1(),
				},
			},
		}
	}
	if sniffed && b.proxy.Type == model.SidecarProxy {
		d.useDownstreamProtocol()
	}
}

func (b *builder) preserveHeaderCase() bool {
	return b.mesh.GetDefaultConfig().GetProxyHeaders().GetPreserveHttp1HeaderCase().GetValue()
}

func preserveCaseHTTP1() *corev3.Http1ProtocolOptions {
	return &corev3.Http1ProtocolOptions{
		HeaderKeyFormat: &corev3.Http1ProtocolOptions_HeaderKeyFormat{
			HeaderFormat: &corev3.Http1ProtocolOptions_HeaderKeyFormat_StatefulFormatter{
				StatefulFormatter: &corev3.TypedExtensionConfig{
					Name: "preserve_case",
					TypedConfig: &anypb.Any{
						TypeUrl: "type.googleapis.com/envoy.extensions.http.header_formatters.preserve_case.v3.PreserveCaseFormatterConfig",
					},
				},
			},
		},
	}
}

func (d *draft) options() *httpv3.HttpProtocolOptions {
	if d.http == nil {
		d.http = &httpv3.HttpProtocolOptions{}
	}
	return d.http
}

// setH2 makes the cluster speak HTTP/2 upstream, unless a protocol was already chosen.
func (d *draft) setH2() {
	o := d.options()
	if o.UpstreamProtocolOptions == nil {
		o.UpstreamProtocolOptions = &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{
			ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{
					Http2ProtocolOptions: &corev3.Http2ProtocolOptions{},
				},
			},
		}
	}
}

// useDownstreamProtocol makes the cluster use the downstream connection's HTTP version,
// keeping any explicit HTTP/1 options.
func (d *draft) useDownstreamProtocol() {
	o := d.options()
	h1 := o.GetExplicitHttpConfig().GetHttpProtocolOptions()
	if h1 == nil {
		h1 = &corev3.Http1ProtocolOptions{}
	}
	o.UpstreamProtocolOptions = &httpv3.HttpProtocolOptions_UseDownstreamProtocolConfig{
		UseDownstreamProtocolConfig: &httpv3.HttpProtocolOptions_UseDownstreamHttpConfig{
			HttpProtocolOptions:  h1,
			Http2ProtocolOptions: &corev3.Http2ProtocolOptions{},
		},
	}
}

// isH2 reports whether the cluster explicitly speaks HTTP/2 upstream.
func (d *draft) isH2() bool {
	return d.http.GetExplicitHttpConfig().GetHttp2ProtocolOptions() != nil
}

// finish packs the HTTP protocol options, defaulting the (required) upstream protocol to
// explicit HTTP/1.
func (d *draft) finish() *clusterv3.Cluster {
	if d == nil {
		return nil
	}
	if d.http != nil {
		if d.http.UpstreamProtocolOptions == nil {
			d.http.UpstreamProtocolOptions = &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{
				ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
					ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_HttpProtocolOptions{},
				},
			}
		}
		d.c.TypedExtensionProtocolOptions = map[string]*anypb.Any{httpProtocolOptionsKey: protoconv.MessageToAny(d.http)}
	}
	return d.c
}

// applyEDS points an EDS cluster at ADS, for its own name.
func applyEDS(c *clusterv3.Cluster) {
	if c.GetType() != clusterv3.Cluster_EDS {
		return
	}
	c.EdsClusterConfig = &clusterv3.Cluster_EdsClusterConfig{
		ServiceName: c.Name,
		EdsConfig: &corev3.ConfigSource{
			ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
			InitialFetchTimeout:   durationpb.New(0),
			ResourceApiVersion:    corev3.ApiVersion_V3,
		},
	}
}

// statPrefix expands a mesh config cluster stat name pattern (%SERVICE%, %SERVICE_FQDN%,
// %SERVICE_PORT%, ...) for svc.
func statPrefix(pattern string, svc *model.Service, subset string, port *model.Port, targetPort int) string {
	short, name := string(svc.Hostname), string(svc.Hostname)
	if svc.Registry == model.Kubernetes {
		short, name = svc.Name+"."+svc.Namespace, svc.Name
	}
	return strings.NewReplacer(
		"%SERVICE_FQDN%", string(svc.Hostname),
		"%SERVICE_NAME%", name,
		"%SERVICE_PORT_NAME%", port.Name,
		"%SERVICE_PORT%", strconv.Itoa(port.Port),
		"%SUBSET_NAME%", subset,
		"%TARGET_PORT%", strconv.Itoa(targetPort),
		"%SERVICE%", short,
	).Replace(pattern)
}
