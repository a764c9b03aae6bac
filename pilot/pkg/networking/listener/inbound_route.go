package listener

import (
	"strconv"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/sextant-mesh/sextant/pkg/config"
)

// inboundRouteConfig is the route configuration an inbound HCM embeds: every request to
// the inbound cluster, with no timeout, and (except for gRPC, whose streams it would break)
// two retries of connections reset before the request was sent.
func inboundRouteConfig(c *inboundChain) *routev3.RouteConfiguration {
	action := &routev3.RouteAction{
		ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: c.cluster},
		Timeout:          durationpb.New(0),
		MaxStreamDuration: &routev3.RouteAction_MaxStreamDuration{
			MaxStreamDuration:    durationpb.New(0),
			GrpcTimeoutHeaderMax: durationpb.New(0),
		},
	}
	if !c.port.Protocol.IsGRPC() {
		action.RetryPolicy = &routev3.RetryPolicy{RetryOn: "reset-before-request", NumRetries: wrapperspb.UInt32(2)}
	}
	port := strconv.Itoa(c.port.Port)
	return &routev3.RouteConfiguration{
		Name: c.cluster,
		VirtualHosts: []*routev3.VirtualHost{{
			Name:    "inbound|http|" + port,
			Domains: []string{"*"},
			Routes: []*routev3.Route{{
				Name:      "default",
				Match:     &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
				Action:    &routev3.Route_Route{Route: action},
				Decorator: &routev3.Decorator{Operation: c.hostname + ":" + port + "/*"},
			}},
		}},
		ValidateClusters: wrapperspb.Bool(false),
	}
}

// configMetadata records the Istio object a chain comes from, as istiod does, under the
// "istio" filter metadata key ("/apis/<group>/v1/namespaces/<ns>/<kebab-kind>/<name>").
func configMetadata(m *config.Meta) *corev3.Metadata {
	path := "/apis/" + m.Kind.Group + "/v1/namespaces/" + m.Namespace + "/" + kebab(m.Kind.Kind) + "/" + m.Name
	return &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{
		"istio": {Fields: map[string]*structpb.Value{"config": structpb.NewStringValue(path)}},
	}}
}

// kebab turns a kind name into its kebab-case form: VirtualService becomes virtual-service.
func kebab(kind string) string {
	var out []byte
	for i := 0; i < len(kind); i++ {
		ch := kind[i]
		if ch >= 'A' && ch <= 'Z' {
			if i > 0 {
				out = append(out, '-')
			}
			ch += 'a' - 'A'
		}
		out = append(out, ch)
	}
	return string(out)
}
