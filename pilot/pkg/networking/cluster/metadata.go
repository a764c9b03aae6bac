package cluster

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/protoconv"
	"github.com/sextant-mesh/sextant/pkg/config"
)

// istioMetadataKey is the filter metadata namespace istiod writes cluster facts under.
const istioMetadataKey = "istio"

// istioMetadata returns the cluster's "istio" filter metadata, creating it if needed.
func istioMetadata(c *clusterv3.Cluster) *structpb.Struct {
	if c.Metadata == nil {
		c.Metadata = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{}}
	}
	s := c.Metadata.FilterMetadata[istioMetadataKey]
	if s == nil {
		s = &structpb.Struct{Fields: map[string]*structpb.Value{}}
		c.Metadata.FilterMetadata[istioMetadataKey] = s
	}
	return s
}

// setServices records the services a cluster serves (telemetry labels).
func setServices(c *clusterv3.Cluster, svcs ...*model.Service) {
	list := &structpb.ListValue{}
	for _, s := range svcs {
		list.Values = append(list.Values, structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{
			"host":      structpb.NewStringValue(string(s.Hostname)),
			"name":      structpb.NewStringValue(s.Name),
			"namespace": structpb.NewStringValue(s.Namespace),
		}}))
	}
	istioMetadata(c).Fields["services"] = structpb.NewListValue(list)
}

// setConfigPath records the DestinationRule a cluster was configured by, as its API path.
func setConfigPath(c *clusterv3.Cluster, rule *config.Config) {
	path := "/apis/networking.istio.io/v1/namespaces/" + rule.Namespace + "/destination-rule/" + rule.Name
	istioMetadata(c).Fields["config"] = structpb.NewStringValue(path)
}

// setALPNOverride tells the istio ALPN filter not to rewrite ALPN when the user originates
// TLS themselves.
func setALPNOverride(c *clusterv3.Cluster, mode networkingv1alpha3.ClientTLSSettings_TLSmode) {
	if mode == networkingv1alpha3.ClientTLSSettings_SIMPLE || mode == networkingv1alpha3.ClientTLSSettings_MUTUAL {
		istioMetadata(c).Fields["alpn_override"] = structpb.NewStringValue("false")
	}
}

// addMetadataExchange appends the TCP metadata exchange cluster filter.
func addMetadataExchange(c *clusterv3.Cluster) {
	c.Filters = append(c.Filters, &clusterv3.Filter{
		Name: "istio.metadata_exchange",
		TypedConfig: protoconv.TypedStruct("type.googleapis.com/envoy.tcp.metadataexchange.config.MetadataExchange",
			map[string]any{"protocol": "istio-peer-exchange", "enable_discovery": true}),
	})
}
