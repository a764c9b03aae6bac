// Package xdsvalidate checks generated xDS resources with Envoy's own proto constraints
// (the protoc-gen-validate rules go-control-plane generates as ValidateAll), so tests
// catch config Envoy would reject. ValidateAll does not look inside google.protobuf.Any,
// so every typed_config is unpacked and validated too, and every violation is reported,
// not only the first.
//
// Resources for proxyless gRPC clients are consumed by grpc-go, not Envoy, and istiod's
// break two Envoy rules on purpose (GRPCExceptions); for those clients exactly these are
// allowed.
package xdsvalidate

import (
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/sextant-mesh/sextant/pilot/pkg/networking/generate"
)

// GRPCExceptions are the Envoy constraints istiod's output for proxyless gRPC clients
// breaks: gRPC's xDS client ignores the API listener's stat prefix, and takes the root CA
// from its certificate providers, never from SDS.
var GRPCExceptions = []string{
	"invalid HttpConnectionManager.StatPrefix: value length must be at least 1 runes",
	"invalid CommonTlsContext_CombinedCertificateValidationContext.ValidationContextSdsSecretConfig: value is required",
}

// Violations returns every violation in m and the messages packed inside it.
func Violations(m proto.Message) []error { return deep(m.ProtoReflect(), true) }

// Resource validates one resource for an Envoy client, naming it in the error.
func Resource(kind, name string, m proto.Message) error {
	return join(kind, name, Violations(m))
}

// GRPCResource validates one resource for a proxyless gRPC client: GRPCExceptions are
// allowed, nothing else.
func GRPCResource(kind, name string, m proto.Message) error {
	var kept []error
	for _, err := range Violations(m) {
		if !grpcException(err) {
			kept = append(kept, err)
		}
	}
	return join(kind, name, kept)
}

func join(kind, name string, errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%s %q: %w", kind, name, errors.Join(errs...))
}

func grpcException(err error) bool {
	for _, e := range GRPCExceptions {
		if strings.Contains(err.Error(), e) {
			return true
		}
	}
	return false
}

// deep validates m if validate is set (ValidateAll covers every nested message but those
// packed in an Any) and descends to find Anys, whose contents it validates in turn.
func deep(m protoreflect.Message, validate bool) []error {
	var out []error
	if v, ok := m.Interface().(interface{ ValidateAll() error }); ok && validate {
		out = append(out, leaves(v.ValidateAll())...)
	}
	if a, ok := m.Interface().(*anypb.Any); ok {
		inner, err := a.UnmarshalNew()
		if err != nil {
			return append(out, fmt.Errorf("Any %s: %w", a.GetTypeUrl(), err))
		}
		return append(out, deep(inner.ProtoReflect(), true)...)
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := 0; i < v.List().Len(); i++ {
				out = append(out, deep(v.List().Get(i).Message(), false)...)
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				out = append(out, deep(mv.Message(), false)...)
				return true
			})
		case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
			out = append(out, deep(v.Message(), false)...)
		}
		return true
	})
	return out
}

// leaves flattens protoc-gen-validate's multi-errors and embedded-message errors into
// the violations themselves.
func leaves(err error) []error {
	if err == nil {
		return nil
	}
	if m, ok := err.(interface{ AllErrors() []error }); ok {
		var out []error
		for _, e := range m.AllErrors() {
			out = append(out, leaves(e)...)
		}
		return out
	}
	if c, ok := err.(interface{ Cause() error }); ok && c.Cause() != nil {
		return leaves(c.Cause())
	}
	return []error{err}
}

// Output validates everything generated for a proxy (grpc true for a proxyless gRPC
// client) and returns one error per invalid resource.
func Output(o *generate.Output, grpc bool) []error {
	check := Resource
	if grpc {
		check = GRPCResource
	}
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	for _, c := range o.Clusters {
		add(check("cluster", c.GetName(), c))
	}
	for _, l := range o.Listeners {
		add(check("listener", l.GetName(), l))
	}
	for _, r := range o.Routes {
		add(check("route", r.GetName(), r))
	}
	for _, e := range o.Endpoints {
		add(check("endpoints", e.GetClusterName(), e))
	}
	return errs
}
