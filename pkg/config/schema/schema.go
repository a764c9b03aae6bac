package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/golang/protobuf/jsonpb" //nolint:staticcheck // istiod's decoder: Go duration syntax
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
	extensionsv1alpha1 "istio.io/api/extensions/v1alpha1"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	networkingv1beta1 "istio.io/api/networking/v1beta1"
	securityv1beta1 "istio.io/api/security/v1beta1"
	telemetryv1alpha1 "istio.io/api/telemetry/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sextant-mesh/sextant/pkg/config"
)

// Groups of the kinds below.
const (
	NetworkingGroup = "networking.istio.io"
	SecurityGroup   = "security.istio.io"
	TelemetryGroup  = "telemetry.istio.io"
	ExtensionsGroup = "extensions.istio.io"
	DiscoveryGroup  = "discovery.k8s.io"
)

// Kinds, by name.
var (
	VirtualService        = config.Kind{Group: NetworkingGroup, Kind: "VirtualService"}
	DestinationRule       = config.Kind{Group: NetworkingGroup, Kind: "DestinationRule"}
	ServiceEntry          = config.Kind{Group: NetworkingGroup, Kind: "ServiceEntry"}
	WorkloadEntry         = config.Kind{Group: NetworkingGroup, Kind: "WorkloadEntry"}
	WorkloadGroup         = config.Kind{Group: NetworkingGroup, Kind: "WorkloadGroup"}
	Gateway               = config.Kind{Group: NetworkingGroup, Kind: "Gateway"}
	Sidecar               = config.Kind{Group: NetworkingGroup, Kind: "Sidecar"}
	EnvoyFilter           = config.Kind{Group: NetworkingGroup, Kind: "EnvoyFilter"}
	ProxyConfig           = config.Kind{Group: NetworkingGroup, Kind: "ProxyConfig"}
	PeerAuthentication    = config.Kind{Group: SecurityGroup, Kind: "PeerAuthentication"}
	RequestAuthentication = config.Kind{Group: SecurityGroup, Kind: "RequestAuthentication"}
	AuthorizationPolicy   = config.Kind{Group: SecurityGroup, Kind: "AuthorizationPolicy"}
	Telemetry             = config.Kind{Group: TelemetryGroup, Kind: "Telemetry"}
	WasmPlugin            = config.Kind{Group: ExtensionsGroup, Kind: "WasmPlugin"}

	Service       = config.Kind{Kind: "Service"}
	Pod           = config.Kind{Kind: "Pod"}
	Node          = config.Kind{Kind: "Node"}
	Namespace     = config.Kind{Kind: "Namespace"}
	Secret        = config.Kind{Kind: "Secret"}
	ConfigMap     = config.Kind{Kind: "ConfigMap"}
	EndpointSlice = config.Kind{Group: DiscoveryGroup, Kind: "EndpointSlice"}
)

// Schema describes one kind.
type Schema struct {
	Kind       config.Kind
	Versions   []string // accepted API versions, preferred first
	Namespaced bool
	// Istio is true for Istio custom resources, whose Spec is a proto message; false for
	// Kubernetes kinds, whose Spec is the whole typed object.
	Istio bool
	// newSpec returns an empty Spec to decode into.
	newSpec func() any
}

// APIVersion returns the preferred group/version of the kind.
func (s *Schema) APIVersion() string {
	if s.Kind.Group == "" {
		return s.Versions[0]
	}
	return s.Kind.Group + "/" + s.Versions[0]
}

// Plural is the lower-case plural resource name, as in the Kubernetes API path:
// serviceentries, authorizationpolicies, telemetries, gateways.
func (s *Schema) Plural() string {
	k := lower(s.Kind.Kind)
	if n := len(k); n > 1 && k[n-1] == 'y' && !strings.ContainsRune("aeiou", rune(k[n-2])) {
		return k[:n-1] + "ies"
	}
	return k + "s"
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func istio(k config.Kind, versions []string, newSpec func() proto.Message) *Schema {
	return &Schema{Kind: k, Versions: versions, Namespaced: true, Istio: true, newSpec: func() any { return newSpec() }}
}

var (
	networkingVersions = []string{"v1", "v1beta1", "v1alpha3"}
	securityVersions   = []string{"v1", "v1beta1"}
)

var all = []*Schema{
	istio(VirtualService, networkingVersions, func() proto.Message { return &networkingv1alpha3.VirtualService{} }),
	istio(DestinationRule, networkingVersions, func() proto.Message { return &networkingv1alpha3.DestinationRule{} }),
	istio(ServiceEntry, networkingVersions, func() proto.Message { return &networkingv1alpha3.ServiceEntry{} }),
	istio(WorkloadEntry, networkingVersions, func() proto.Message { return &networkingv1alpha3.WorkloadEntry{} }),
	istio(WorkloadGroup, networkingVersions, func() proto.Message { return &networkingv1alpha3.WorkloadGroup{} }),
	istio(Gateway, networkingVersions, func() proto.Message { return &networkingv1alpha3.Gateway{} }),
	istio(Sidecar, networkingVersions, func() proto.Message { return &networkingv1alpha3.Sidecar{} }),
	istio(EnvoyFilter, []string{"v1alpha3"}, func() proto.Message { return &networkingv1alpha3.EnvoyFilter{} }),
	istio(ProxyConfig, []string{"v1beta1"}, func() proto.Message { return &networkingv1beta1.ProxyConfig{} }),
	istio(PeerAuthentication, securityVersions, func() proto.Message { return &securityv1beta1.PeerAuthentication{} }),
	istio(RequestAuthentication, securityVersions, func() proto.Message { return &securityv1beta1.RequestAuthentication{} }),
	istio(AuthorizationPolicy, securityVersions, func() proto.Message { return &securityv1beta1.AuthorizationPolicy{} }),
	istio(Telemetry, []string{"v1", "v1alpha1"}, func() proto.Message { return &telemetryv1alpha1.Telemetry{} }),
	istio(WasmPlugin, []string{"v1alpha1"}, func() proto.Message { return &extensionsv1alpha1.WasmPlugin{} }),

	{Kind: Service, Versions: []string{"v1"}, Namespaced: true, newSpec: func() any { return &corev1.Service{} }},
	{Kind: Pod, Versions: []string{"v1"}, Namespaced: true, newSpec: func() any { return &corev1.Pod{} }},
	{Kind: Node, Versions: []string{"v1"}, newSpec: func() any { return &corev1.Node{} }},
	{Kind: Namespace, Versions: []string{"v1"}, newSpec: func() any { return &corev1.Namespace{} }},
	{Kind: Secret, Versions: []string{"v1"}, Namespaced: true, newSpec: func() any { return &corev1.Secret{} }},
	{Kind: ConfigMap, Versions: []string{"v1"}, Namespaced: true, newSpec: func() any { return &corev1.ConfigMap{} }},
	{Kind: EndpointSlice, Versions: []string{"v1"}, Namespaced: true, newSpec: func() any { return &discoveryv1.EndpointSlice{} }},
}

var byKind = func() map[config.Kind]*Schema {
	m := map[config.Kind]*Schema{}
	for _, s := range all {
		m[s.Kind] = s
	}
	return m
}()

// All returns every known schema, sorted by kind.
func All() []*Schema {
	out := append([]*Schema(nil), all...)
	sort.Slice(out, func(i, j int) bool { return out[i].Kind.String() < out[j].Kind.String() })
	return out
}

// ByKind returns the schema of k, or nil.
func ByKind(k config.Kind) *Schema { return byKind[k] }

// Lookup finds the schema for an apiVersion and kind as written in a manifest. It returns
// an error naming what is unknown: the kind, or the version of a known kind.
func Lookup(apiVersion, kind string) (*Schema, error) {
	group, version := "", apiVersion
	for i := len(apiVersion) - 1; i >= 0; i-- {
		if apiVersion[i] == '/' {
			group, version = apiVersion[:i], apiVersion[i+1:]
			break
		}
	}
	s := byKind[config.Kind{Group: group, Kind: kind}]
	if s == nil {
		return nil, fmt.Errorf("unknown kind %s %s", apiVersion, kind)
	}
	for _, v := range s.Versions {
		if v == version {
			return s, nil
		}
	}
	return nil, fmt.Errorf("unknown version %s of kind %s (known: %v)", version, kind, s.Versions)
}

// object is the envelope of a manifest: metadata plus everything else raw.
type object struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       json.RawMessage   `json:"spec"`
}

// unmarshalSpec decodes an Istio spec the way istiod does (golang/protobuf's jsonpb,
// strict): unknown fields are errors, and durations take Go's syntax ("500ms", "1m30s")
// as well as protobuf's ("0.5s").
func unmarshalSpec(raw []byte, m proto.Message) error {
	return (&jsonpb.Unmarshaler{}).Unmarshal(bytes.NewReader(raw), protoadapt.MessageV1Of(m))
}

var protoErrorNoise = regexp.MustCompile(`^proto:\s*(\(line \d+:\d+\):\s*)?`)

// cleanProtoError drops protojson's "proto: (line 1:22):" prefix: positions in the
// re-encoded spec JSON mean nothing to someone reading their YAML.
func cleanProtoError(err error) string {
	msg := strings.ReplaceAll(err.Error(), "\u00a0", " ")
	return protoErrorNoise.ReplaceAllString(msg, "")
}

// Decode turns one JSON manifest into a Config. When the envelope parses but the rest does
// not, it returns the Config (metadata only) along with the error, so callers can name the
// object. The spec of an Istio kind is decoded with
// protojson, so unknown fields and wrongly typed values are errors naming the field.
func Decode(data []byte) (*config.Config, error) {
	var o object
	if err := json.Unmarshal(data, &o); err != nil {
		return nil, fmt.Errorf("not a Kubernetes object: %w", err)
	}
	if o.Kind == "" || o.APIVersion == "" {
		return nil, fmt.Errorf("not a Kubernetes object: apiVersion and kind are required")
	}
	s, err := Lookup(o.APIVersion, o.Kind)
	if err != nil {
		return nil, err
	}
	c := &config.Config{Meta: config.Meta{
		Kind:              s.Kind,
		APIVersion:        o.APIVersion,
		Namespace:         o.Metadata.Namespace,
		Name:              o.Metadata.Name,
		Labels:            o.Metadata.Labels,
		Annotations:       o.Metadata.Annotations,
		ResourceVersion:   o.Metadata.ResourceVersion,
		Generation:        o.Metadata.Generation,
		CreationTimestamp: o.Metadata.CreationTimestamp.Time,
	}}
	if c.Name == "" {
		return c, fmt.Errorf("metadata.name is required")
	}
	spec := s.newSpec()
	if s.Istio {
		raw := o.Spec
		if len(raw) == 0 || string(raw) == "null" {
			raw = []byte("{}")
		}
		if err := unmarshalSpec(raw, spec.(proto.Message)); err != nil {
			return c, fmt.Errorf("spec: %s", cleanProtoError(err))
		}
	} else if err := json.Unmarshal(data, spec); err != nil {
		return c, err
	}
	c.Spec = spec
	return c, nil
}
