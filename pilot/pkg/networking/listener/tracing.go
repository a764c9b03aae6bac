package listener

import (
	"sort"

	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	uuidv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/request_id/uuid/v3"
	metadatav3 "github.com/envoyproxy/go-control-plane/envoy/type/metadata/v3"
	tracingv3 "github.com/envoyproxy/go-control-plane/envoy/type/tracing/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"

	"github.com/sextant-mesh/sextant/pilot/pkg/networking/protoconv"
)

// defaultTraceSampling is istiod's PILOT_TRACE_SAMPLING default, in percent.
const defaultTraceSampling = 1.0

// tracing is the HCM tracing block istiod derives from the mesh config when no Telemetry
// resource configures tracing: full client and overall sampling, random sampling from
// defaultConfig.tracing.sampling, Istio's identity tags and the configured custom tags.
// It is nil when the mesh disables tracing.
func (b *builder) tracing() *hcmv3.HttpConnectionManager_Tracing {
	if !b.mesh.GetEnableTracing() {
		return nil
	}
	cfg := b.mesh.GetDefaultConfig().GetTracing()
	sampling := defaultTraceSampling
	if s := cfg.GetSampling(); s != 0 {
		sampling = s
		if sampling > 100 {
			sampling = defaultTraceSampling
		}
	}
	t := &hcmv3.HttpConnectionManager_Tracing{
		ClientSampling:  &typev3.Percent{Value: 100},
		RandomSampling:  &typev3.Percent{Value: sampling},
		OverallSampling: &typev3.Percent{Value: 100},
	}
	var tags []*tracingv3.CustomTag
	if cfg.GetEnableIstioTags() == nil || cfg.GetEnableIstioTags().GetValue() {
		tags = append(b.identityTags(), dryRunPolicyTags()...)
	}
	tags = append(tags, proxyConfigTags(cfg.GetCustomTags())...)
	sort.Slice(tags, func(i, j int) bool { return tags[i].GetTag() < tags[j].GetTag() })
	t.CustomTags = tags
	if n := cfg.GetMaxPathTagLength(); n != 0 {
		t.MaxPathTagLength = wrapperspb.UInt32(n)
	}
	return t
}

func literalTag(tag, value string) *tracingv3.CustomTag {
	return &tracingv3.CustomTag{Tag: tag, Type: &tracingv3.CustomTag_Literal_{Literal: &tracingv3.CustomTag_Literal{Value: value}}}
}

// identityTags name the proxy's workload on every span.
func (b *builder) identityTags() []*tracingv3.CustomTag {
	orDefault := func(v, d string) string {
		if v == "" {
			return d
		}
		return v
	}
	p := b.proxy
	var meshID, ns string
	if p.Metadata != nil {
		meshID, ns = p.Metadata.MeshID, p.Metadata.Namespace
	}
	clusterID := "unknown"
	if p.Metadata != nil && p.Metadata.ClusterID != "" {
		clusterID = p.Metadata.ClusterID
	}
	return []*tracingv3.CustomTag{
		literalTag("istio.canonical_revision", orDefault(p.Labels["service.istio.io/canonical-revision"], "latest")),
		literalTag("istio.canonical_service", orDefault(p.Labels["service.istio.io/canonical-name"], "unknown")),
		literalTag("istio.mesh_id", orDefault(meshID, "unknown")),
		literalTag("istio.namespace", orDefault(ns, "default")),
		literalTag("istio.cluster_id", clusterID),
	}
}

// dryRunPolicyTags expose the results of dry-run authorization policies, which the RBAC
// filter records in its dynamic metadata.
func dryRunPolicyTags() []*tracingv3.CustomTag {
	tag := func(name, key string) *tracingv3.CustomTag {
		return &tracingv3.CustomTag{Tag: name, Type: &tracingv3.CustomTag_Metadata_{Metadata: &tracingv3.CustomTag_Metadata{
			Kind: &metadatav3.MetadataKind{Kind: &metadatav3.MetadataKind_Request_{Request: &metadatav3.MetadataKind_Request{}}},
			MetadataKey: &metadatav3.MetadataKey{
				Key:  "envoy.filters.http.rbac",
				Path: []*metadatav3.MetadataKey_PathSegment{{Segment: &metadatav3.MetadataKey_PathSegment_Key{Key: key}}},
			},
		}}}
	}
	return []*tracingv3.CustomTag{
		tag("istio.authorization.dry_run.allow_policy.name", "istio_dry_run_allow_shadow_effective_policy_id"),
		tag("istio.authorization.dry_run.allow_policy.result", "istio_dry_run_allow_shadow_engine_result"),
		tag("istio.authorization.dry_run.deny_policy.name", "istio_dry_run_deny_shadow_effective_policy_id"),
		tag("istio.authorization.dry_run.deny_policy.result", "istio_dry_run_deny_shadow_engine_result"),
	}
}

// proxyConfigTags converts defaultConfig.tracing.custom_tags.
func proxyConfigTags(in map[string]*meshv1alpha1.Tracing_CustomTag) []*tracingv3.CustomTag {
	var out []*tracingv3.CustomTag
	for name, t := range in {
		switch {
		case t.GetLiteral() != nil:
			out = append(out, literalTag(name, t.GetLiteral().GetValue()))
		case t.GetEnvironment() != nil:
			out = append(out, &tracingv3.CustomTag{Tag: name, Type: &tracingv3.CustomTag_Environment_{
				Environment: &tracingv3.CustomTag_Environment{Name: t.GetEnvironment().GetName(), DefaultValue: t.GetEnvironment().GetDefaultValue()},
			}})
		case t.GetHeader() != nil:
			out = append(out, &tracingv3.CustomTag{Tag: name, Type: &tracingv3.CustomTag_RequestHeader{
				RequestHeader: &tracingv3.CustomTag_Header{Name: t.GetHeader().GetName(), DefaultValue: t.GetHeader().GetDefaultValue()},
			}})
		}
	}
	return out
}

// requestIDExtension is the UUID request id extension; with mesh-config tracing the
// request id also drives trace sampling.
func requestIDExtension() *hcmv3.RequestIDExtension {
	return &hcmv3.RequestIDExtension{TypedConfig: protoconv.MessageToAny(&uuidv3.UuidRequestIdConfig{
		UseRequestIdForTraceSampling: wrapperspb.Bool(true),
	})}
}
