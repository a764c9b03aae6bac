package envoyfilter

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/golang/protobuf/jsonpb" //nolint:staticcheck // istiod's decoder: Go duration syntax, unknown fields ignored
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/anypb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	typev1beta1 "istio.io/api/type/v1beta1"

	"github.com/sextant-mesh/sextant/pkg/config"
)

// Context is where a resource sits in the proxy's config, as EnvoyFilter matches name it.
type Context = networkingv1alpha3.EnvoyFilter_PatchContext

// The contexts generators patch in.
const (
	SidecarInbound  Context = networkingv1alpha3.EnvoyFilter_SIDECAR_INBOUND
	SidecarOutbound Context = networkingv1alpha3.EnvoyFilter_SIDECAR_OUTBOUND
	Gateway         Context = networkingv1alpha3.EnvoyFilter_GATEWAY
)

// ApplyTo and Operation are the EnvoyFilter API's enums.
type (
	ApplyTo   = networkingv1alpha3.EnvoyFilter_ApplyTo
	Operation = networkingv1alpha3.EnvoyFilter_Patch_Operation
)

// Operations, by their API names.
const (
	opMerge             = networkingv1alpha3.EnvoyFilter_Patch_MERGE
	opMergeReplaceLists = networkingv1alpha3.EnvoyFilter_Patch_MERGE_AND_REPLACE_LIST
	opAdd               = networkingv1alpha3.EnvoyFilter_Patch_ADD
	opRemove            = networkingv1alpha3.EnvoyFilter_Patch_REMOVE
	opInsertBefore      = networkingv1alpha3.EnvoyFilter_Patch_INSERT_BEFORE
	opInsertAfter       = networkingv1alpha3.EnvoyFilter_Patch_INSERT_AFTER
	opInsertFirst       = networkingv1alpha3.EnvoyFilter_Patch_INSERT_FIRST
	opReplace           = networkingv1alpha3.EnvoyFilter_Patch_REPLACE
)

// numApplyTo bounds the ApplyTo enum (LISTENER_FILTER = 11 is the last value).
const numApplyTo = int(networkingv1alpha3.EnvoyFilter_LISTENER_FILTER) + 1

// maxProxyVersionLength bounds a proxyVersion regex; istiod does not compile longer ones
// and lets such a patch match no proxy.
const maxProxyVersionLength = 1024

// Filter is one EnvoyFilter, compiled. It is immutable once built and shared between
// PushContexts until the object changes.
type Filter struct {
	Key      config.Key
	Priority int32
	Created  time.Time
	// Selector is the workloadSelector's labels; nil selects every workload.
	Selector   map[string]string
	TargetRefs []*typev1beta1.PolicyTargetReference
	// Patches are the usable patches in spec order.
	Patches []*Patch
	// Errors are the patches that could not be compiled, each naming the object and field.
	Errors []error

	source *config.Config
}

// Source is the object the filter was compiled from: an unchanged object (the same
// pointer) need not be compiled again.
func (f *Filter) Source() *config.Config { return f.source }

// Patch is one compiled config patch.
type Patch struct {
	// Filter is the EnvoyFilter the patch comes from.
	Filter    config.Key
	ApplyTo   ApplyTo
	Operation Operation
	// Match is the patch's match, never nil (a patch without one matches ANY context).
	Match *networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectMatch
	// Value is the patch value decoded as applyTo's Envoy type; nil for REMOVE without
	// a value. It is never altered: patching clones what it inserts.
	Value proto.Message

	// typed is the value's typed_config (or transport socket typed_config) unpacked,
	// for MERGE into an existing typed_config.
	typed proto.Message
	// versionRegex and versionNoMatch are the compiled match.proxy.proxyVersion.
	versionRegex   *regexp.Regexp
	versionNoMatch bool
}

// newValue returns an empty message of the Envoy type a patch of applyTo holds.
func newValue(applyTo ApplyTo) proto.Message {
	switch applyTo {
	case networkingv1alpha3.EnvoyFilter_LISTENER:
		return &listenerv3.Listener{}
	case networkingv1alpha3.EnvoyFilter_FILTER_CHAIN:
		return &listenerv3.FilterChain{}
	case networkingv1alpha3.EnvoyFilter_NETWORK_FILTER:
		return &listenerv3.Filter{}
	case networkingv1alpha3.EnvoyFilter_HTTP_FILTER:
		return &hcmv3.HttpFilter{}
	case networkingv1alpha3.EnvoyFilter_LISTENER_FILTER:
		return &listenerv3.ListenerFilter{}
	case networkingv1alpha3.EnvoyFilter_ROUTE_CONFIGURATION:
		return &routev3.RouteConfiguration{}
	case networkingv1alpha3.EnvoyFilter_VIRTUAL_HOST:
		return &routev3.VirtualHost{}
	case networkingv1alpha3.EnvoyFilter_HTTP_ROUTE:
		return &routev3.Route{}
	case networkingv1alpha3.EnvoyFilter_CLUSTER:
		return &clusterv3.Cluster{}
	case networkingv1alpha3.EnvoyFilter_EXTENSION_CONFIG:
		return &corev3.TypedExtensionConfig{}
	case networkingv1alpha3.EnvoyFilter_BOOTSTRAP:
		return &bootstrapv3.Bootstrap{}
	}
	return nil
}

// Compile compiles one EnvoyFilter config (Spec *networkingv1alpha3.EnvoyFilter). A patch
// whose value cannot be decoded is left out and reported in Filter.Errors; the others
// are kept, as istiod keeps them.
func Compile(c *config.Config) *Filter {
	f := &Filter{Key: c.Key(), Created: c.CreationTimestamp, source: c}
	spec, ok := c.Spec.(*networkingv1alpha3.EnvoyFilter)
	if !ok {
		f.Errors = append(f.Errors, fmt.Errorf("%s: spec is %T, not an EnvoyFilter", c, c.Spec))
		return f
	}
	f.Priority = spec.GetPriority()
	f.TargetRefs = spec.GetTargetRefs()
	if ws := spec.GetWorkloadSelector(); ws != nil && ws.GetLabels() != nil {
		f.Selector = ws.GetLabels()
	}
	for i, cp := range spec.GetConfigPatches() {
		if cp.GetPatch() == nil {
			continue // validation rejects it; istiod skips it when validation is off
		}
		p, err := compilePatch(c.Key(), cp)
		if err != nil {
			f.Errors = append(f.Errors, fmt.Errorf("%s: spec.configPatches[%d].patch.value: %w", c, i, err))
			continue
		}
		f.Patches = append(f.Patches, p)
	}
	return f
}

func compilePatch(key config.Key, cp *networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch) (*Patch, error) {
	p := &Patch{Filter: key, ApplyTo: cp.GetApplyTo(), Operation: cp.GetPatch().GetOperation(), Match: cp.GetMatch()}
	if p.Match == nil {
		p.Match = &networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectMatch{Context: networkingv1alpha3.EnvoyFilter_ANY}
	}
	if v := cp.GetPatch().GetValue(); v != nil {
		msg := newValue(p.ApplyTo)
		if msg == nil {
			return nil, fmt.Errorf("unknown object type for applyTo %s", p.ApplyTo)
		}
		js, err := protojson.Marshal(v)
		if err != nil {
			return nil, err
		}
		// Unknown fields are ignored, as istiod ignores them: the proxy may be newer than
		// the control plane. Types inside typed_config must be known.
		if err := (&jsonpb.Unmarshaler{AllowUnknownFields: true}).Unmarshal(bytes.NewReader(js), protoadapt.MessageV1Of(msg)); err != nil {
			return nil, fmt.Errorf("cannot decode as %s: %s", msg.ProtoReflect().Descriptor().FullName(), decodeError(js, newValue(p.ApplyTo), err))
		}
		p.Value = msg
		if p.typed, err = typedConfigOf(msg); err != nil {
			return nil, fmt.Errorf("typed_config: %w", err)
		}
	}
	if ver := p.Match.GetProxy().GetProxyVersion(); ver != "" {
		if len(ver) > maxProxyVersionLength {
			p.versionNoMatch = true
		} else {
			// Validation rejects a regex that does not compile; without validation, istiod
			// ignores it (any version matches), and so does Sextant.
			p.versionRegex, _ = regexp.Compile(ver)
		}
	}
	p.Operation = normaliseOperation(p.ApplyTo, p.Operation)
	return p, nil
}

// protoPosition is the "(line 1:20): " protojson puts in its errors: a position in JSON
// re-encoded from the patch, which means nothing to the author of the YAML.
var protoPosition = regexp.MustCompile(`^proto:\s*(\(line \d+:\d+\):\s*)?`)

// decodeError explains why js does not decode into msg. jsonpb names unknown Any types
// well, but not the field of a badly typed value ("invalid character 'l' looking for
// beginning of value"), which protojson's message does; that is preferred then.
func decodeError(js []byte, msg proto.Message, err error) string {
	if strings.Contains(err.Error(), "resolve") {
		return err.Error()
	}
	perr := protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(js, msg)
	if perr == nil {
		return err.Error()
	}
	return protoPosition.ReplaceAllString(strings.ReplaceAll(perr.Error(), "\u00a0", " "), "")
}

// normaliseOperation turns INSERT_BEFORE/AFTER/FIRST into ADD for the objects that have no
// order to insert into (istiod does the same): only filters and routes are ordered.
func normaliseOperation(applyTo ApplyTo, op Operation) Operation {
	switch op {
	case opInsertBefore, opInsertAfter, opInsertFirst:
	default:
		return op
	}
	switch applyTo {
	case networkingv1alpha3.EnvoyFilter_HTTP_FILTER, networkingv1alpha3.EnvoyFilter_NETWORK_FILTER,
		networkingv1alpha3.EnvoyFilter_HTTP_ROUTE, networkingv1alpha3.EnvoyFilter_LISTENER_FILTER:
		return op
	}
	return opAdd
}

// typedConfigOf unpacks the typed_config a MERGE of msg merges into an existing one: a
// filter's, or the transport socket's of a cluster or filter chain.
func typedConfigOf(msg proto.Message) (proto.Message, error) {
	var a *anypb.Any
	switch v := msg.(type) {
	case *listenerv3.Filter:
		a = v.GetTypedConfig()
	case *hcmv3.HttpFilter:
		a = v.GetTypedConfig()
	case *listenerv3.ListenerFilter:
		a = v.GetTypedConfig()
	case *clusterv3.Cluster:
		a = v.GetTransportSocket().GetTypedConfig()
	case *listenerv3.FilterChain:
		a = v.GetTransportSocket().GetTypedConfig()
	}
	if a == nil {
		return nil, nil
	}
	return a.UnmarshalNew()
}
