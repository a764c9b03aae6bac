package cluster

import (
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pilot/pkg/networking/protoconv"
)

// blackHole is the cluster routes point at to drop traffic: a STATIC cluster without
// endpoints.
func (b *builder) blackHole() *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 BlackHoleCluster,
		AltStatName:          BlackHoleCluster + ";",
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		ConnectTimeout:       b.mesh.GetConnectTimeout(),
		LbPolicy:             clusterv3.Cluster_ROUND_ROBIN,
	}
}

// passthrough forwards traffic to its original destination (outbound traffic to unknown
// destinations under ALLOW_ANY), in the downstream's HTTP version, capped by the mesh's
// default connection pool when it has one.
func (b *builder) passthrough() *clusterv3.Cluster {
	c := &clusterv3.Cluster{
		Name:                 PassthroughCluster,
		AltStatName:          PassthroughCluster + ";",
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_ORIGINAL_DST},
		ConnectTimeout:       b.mesh.GetConnectTimeout(),
		LbPolicy:             clusterv3.Cluster_CLUSTER_PROVIDED,
		TypedExtensionProtocolOptions: map[string]*anypb.Any{
			httpProtocolOptionsKey: protoconv.MessageToAny(b.passthroughHTTPOptions()),
		},
	}
	pool := b.mesh.GetDefaultTrafficPolicy().GetConnectionPool()
	if pool == nil {
		pool = &networkingv1alpha3.ConnectionPoolSettings{}
	}
	b.applyConnectionPool(&draft{c: c}, pool, nil)
	addMetadataExchange(c)
	return c
}

func (b *builder) passthroughHTTPOptions() *httpv3.HttpProtocolOptions {
	h1 := &corev3.Http1ProtocolOptions{}
	if b.preserveHeaderCase() {
		h1 = preserveCaseHTTP1()
	}
	return &httpv3.HttpProtocolOptions{
		CommonHttpProtocolOptions: &corev3.HttpProtocolOptions{IdleTimeout: durationpb.New(5 * time.Minute)},
		UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_UseDownstreamProtocolConfig{
			UseDownstreamProtocolConfig: &httpv3.HttpProtocolOptions_UseDownstreamHttpConfig{
				HttpProtocolOptions:  h1,
				Http2ProtocolOptions: &corev3.Http2ProtocolOptions{},
			},
		},
	}
}

// inboundPassthrough is the passthrough cluster for inbound traffic to ports the workload
// serves outside any service, sourced from the passthrough bind addresses (both families
// for dual-stack proxies). It keeps PassthroughCluster's stat name.
func (b *builder) inboundPassthrough() *clusterv3.Cluster {
	c := b.passthrough()
	c.Name = InboundPassthroughCluster
	c.Filters = nil
	src := passthroughV4
	if !b.ipv4 {
		src = passthroughV6
	}
	c.UpstreamBindConfig = &corev3.BindConfig{SourceAddress: socketAddress(src, 0).GetSocketAddress()}
	if b.ipv4 && b.ipv6 {
		c.UpstreamBindConfig.ExtraSourceAddresses = []*corev3.ExtraSourceAddress{{Address: socketAddress(passthroughV6, 0).GetSocketAddress()}}
	}
	return c
}
