package validation

import (
	"regexp"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
)

// patchTypes are the Envoy types EnvoyFilter patches are merged into, by applyTo.
// BOOTSTRAP patches are not decoded: Sextant does not link the bootstrap API.
var patchTypes = map[networkingv1alpha3.EnvoyFilter_ApplyTo]func() proto.Message{
	networkingv1alpha3.EnvoyFilter_LISTENER:            func() proto.Message { return &listenerv3.Listener{} },
	networkingv1alpha3.EnvoyFilter_FILTER_CHAIN:        func() proto.Message { return &listenerv3.FilterChain{} },
	networkingv1alpha3.EnvoyFilter_NETWORK_FILTER:      func() proto.Message { return &listenerv3.Filter{} },
	networkingv1alpha3.EnvoyFilter_HTTP_FILTER:         func() proto.Message { return &hcmv3.HttpFilter{} },
	networkingv1alpha3.EnvoyFilter_ROUTE_CONFIGURATION: func() proto.Message { return &routev3.RouteConfiguration{} },
	networkingv1alpha3.EnvoyFilter_VIRTUAL_HOST:        func() proto.Message { return &routev3.VirtualHost{} },
	networkingv1alpha3.EnvoyFilter_HTTP_ROUTE:          func() proto.Message { return &routev3.Route{} },
	networkingv1alpha3.EnvoyFilter_CLUSTER:             func() proto.Message { return &clusterv3.Cluster{} },
	networkingv1alpha3.EnvoyFilter_EXTENSION_CONFIG:    func() proto.Message { return &corev3.TypedExtensionConfig{} },
	networkingv1alpha3.EnvoyFilter_LISTENER_FILTER:     func() proto.Message { return &listenerv3.ListenerFilter{} },
}

// checkPatchValue checks a patch value decodes as the Envoy type applyTo names, ignoring
// unknown fields as istiod does (the proxy may be newer than the control plane). Unknown
// fields are then reported as a warning. Values of typed_config whose type this binary
// does not link are not checked.
func checkPatchValue(r *report, p path, applyTo networkingv1alpha3.EnvoyFilter_ApplyTo, patch *networkingv1alpha3.EnvoyFilter_Patch) {
	if patch.Value == nil {
		return
	}
	newMessage := patchTypes[applyTo]
	if newMessage == nil {
		if applyTo != networkingv1alpha3.EnvoyFilter_BOOTSTRAP {
			r.errorf(p, "Envoy filter: unknown object type for applyTo %s", applyTo)
		}
		return
	}
	js, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(patch.Value)
	if err != nil {
		r.errorf(p, "Envoy filter: %v", err)
		return
	}
	types := &lenientTypes{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true, Resolver: types}).Unmarshal(js, newMessage()); err != nil {
		r.errorf(p, "Envoy filter: %s", protoErrorMessage(err))
		return
	}
	if types.opaque {
		return // strict decoding would fail on the unknown types, not on the user's fields
	}
	if err := (protojson.UnmarshalOptions{Resolver: types}).Unmarshal(js, newMessage()); err != nil {
		r.warnf(p, "Envoy filter: %s", protoErrorMessage(err))
	}
}

// protoPosition is the "(line 1:20): " protojson puts in its errors: a position in the
// JSON re-encoded from the patch, which means nothing to the author of the YAML.
var protoPosition = regexp.MustCompile(`^\(line \d+:\d+\):\s*`)

// protoErrorMessage is a protojson error without its "proto:" prefix (whose spacing the
// protobuf library varies on purpose) and position.
func protoErrorMessage(err error) string {
	msg := strings.TrimPrefix(err.Error(), "proto:")
	msg = strings.TrimLeft(msg, " \u00a0")
	return protoPosition.ReplaceAllString(msg, "")
}

// lenientTypes resolves Any types from the linked registry and stands an opaque message
// in for types it does not know, so that a patch is judged on what Sextant can check.
type lenientTypes struct {
	opaque bool // an unknown type was stood in for
}

func (l *lenientTypes) FindMessageByName(name protoreflect.FullName) (protoreflect.MessageType, error) {
	return protoregistry.GlobalTypes.FindMessageByName(name)
}

func (l *lenientTypes) FindMessageByURL(url string) (protoreflect.MessageType, error) {
	if mt, err := protoregistry.GlobalTypes.FindMessageByURL(url); err == nil {
		return mt, nil
	}
	l.opaque = true
	return opaqueType, nil
}

func (l *lenientTypes) FindExtensionByName(field protoreflect.FullName) (protoreflect.ExtensionType, error) {
	return protoregistry.GlobalTypes.FindExtensionByName(field)
}

func (l *lenientTypes) FindExtensionByNumber(message protoreflect.FullName, field protoreflect.FieldNumber) (protoreflect.ExtensionType, error) {
	return protoregistry.GlobalTypes.FindExtensionByNumber(message, field)
}

// opaqueType is a message without fields: with unknown fields discarded, any JSON object
// decodes into it.
var opaqueType = func() protoreflect.MessageType {
	fd, err := protodesc.NewFile(&descriptorpb.FileDescriptorProto{
		Name:        proto.String("sextant/validation/opaque.proto"),
		Package:     proto.String("sextant.validation"),
		Syntax:      proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{Name: proto.String("Opaque")}},
	}, nil)
	if err != nil {
		panic(err)
	}
	return dynamicpb.NewMessageType(fd.Messages().Get(0))
}()
