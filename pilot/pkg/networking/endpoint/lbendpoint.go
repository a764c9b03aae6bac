package endpoint

import (
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
)

// TLS modes of a workload (its security.istio.io/tlsMode label).
const (
	tlsModeIstio    = "istio"
	tlsModeDisabled = "disabled"
)

// Metadata keys of an LbEndpoint.
const (
	// metadataTransportSocketMatch selects the cluster's transport socket (mTLS or plain)
	// per endpoint.
	metadataTransportSocketMatch = "envoy.transport_socket_match"
	// metadataIstio holds "workload": the workload's telemetry identity, for the client's
	// metrics when the server cannot tell it (no sidecar, failed requests).
	metadataIstio = "istio"
)

// Labels telemetry derives a workload's canonical service from, in precedence order.
var (
	canonicalNameLabels     = []string{"service.istio.io/canonical-name", "app.kubernetes.io/name", "app"}
	canonicalRevisionLabels = []string{"service.istio.io/canonical-revision", "app.kubernetes.io/version", "version"}
)

// lbEndpoint is the Envoy form of ep. tlsMode is its transport socket match ("" for
// none).
func lbEndpoint(ep *model.Endpoint, tlsMode string) *endpointv3.LbEndpoint {
	weight := ep.Weight
	if weight == 0 {
		weight = 1
	}
	md := &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{}}
	if tlsMode != "" {
		md.FilterMetadata[metadataTransportSocketMatch] = &structpb.Struct{Fields: map[string]*structpb.Value{
			"tlsMode": structpb.NewStringValue(tlsMode),
		}}
	}
	md.FilterMetadata[metadataIstio] = &structpb.Struct{Fields: map[string]*structpb.Value{
		"workload": structpb.NewStringValue(workloadMetadata(ep)),
	}}
	return &endpointv3.LbEndpoint{
		HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
			Address: address(ep.Address, ep.EndpointPort),
		}},
		HealthStatus:        healthStatus(ep),
		Metadata:            md,
		LoadBalancingWeight: wrapperspb.UInt32(weight),
	}
}

// workloadMetadata is "workload;namespace;canonical name;canonical revision;cluster", the
// revision left empty when it would be the default "latest".
func workloadMetadata(ep *model.Endpoint) string {
	name := firstLabel(ep.Labels, canonicalNameLabels)
	if name == "" {
		name = ep.WorkloadName
	}
	rev := firstLabel(ep.Labels, canonicalRevisionLabels)
	if rev == "latest" {
		rev = ""
	}
	return strings.Join([]string{ep.WorkloadName, ep.Namespace, name, rev, ep.ClusterID}, ";")
}

// firstLabel returns the value of the first of keys present in labels, or "".
func firstLabel(labels map[string]string, keys []string) string {
	for _, k := range keys {
		if v, ok := labels[k]; ok {
			return v
		}
	}
	return ""
}

// address is the endpoint's socket address, or a Unix domain socket path when it has no
// port.
func address(addr string, port int) *corev3.Address {
	if port == 0 {
		return &corev3.Address{Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{
			Path: strings.TrimPrefix(addr, "unix://"),
		}}}
	}
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address:       addr,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(port)},
	}}}
}

func healthStatus(ep *model.Endpoint) corev3.HealthStatus {
	if ep.Labels[labelDraining] != "" {
		return corev3.HealthStatus_DRAINING
	}
	switch ep.HealthStatus {
	case model.Healthy:
		return corev3.HealthStatus_HEALTHY
	case model.Unhealthy:
		return corev3.HealthStatus_UNHEALTHY
	case model.Draining:
		return corev3.HealthStatus_DRAINING
	default:
		// ServiceEntry endpoints have no health checks: UNKNOWN, which Envoy treats as
		// healthy. Terminating endpoints are never sent.
		return corev3.HealthStatus_UNKNOWN
	}
}
