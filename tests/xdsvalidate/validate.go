// Package xdsvalidate checks generated xDS resources with Envoy's own proto constraints
// (the protoc-gen-validate rules go-control-plane generates as ValidateAll), so tests
// catch config Envoy would reject. ValidateAll does not look inside google.protobuf.Any,
// so every typed_config is unpacked and validated too.
package xdsvalidate

import (
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/sextant-mesh/sextant/pilot/pkg/networking/generate"
)

type validatable interface {
	ValidateAll() error
}

// Resource validates one resource and every message packed in an Any inside it, naming
// the resource in the error.
func Resource(kind, name string, m proto.Message) error {
	if err := deep(m.ProtoReflect()); err != nil {
		return fmt.Errorf("%s %q: %w", kind, name, err)
	}
	return nil
}

func deep(m protoreflect.Message) error {
	if v, ok := m.Interface().(validatable); ok {
		if err := v.ValidateAll(); err != nil {
			return err
		}
	}
	if a, ok := m.Interface().(*anypb.Any); ok {
		inner, err := a.UnmarshalNew()
		if err != nil {
			return fmt.Errorf("Any %s: %w", a.GetTypeUrl(), err)
		}
		return deep(inner.ProtoReflect())
	}
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := 0; i < v.List().Len() && err == nil; i++ {
				err = deep(v.List().Get(i).Message())
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				err = deep(mv.Message())
				return err == nil
			})
		case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
			err = deep(v.Message())
		}
		return err == nil
	})
	return err
}

// Output validates everything generated for a proxy and returns one error per invalid
// resource.
func Output(o *generate.Output) []error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	for _, c := range o.Clusters {
		add(Resource("cluster", c.GetName(), c))
	}
	for _, l := range o.Listeners {
		add(Resource("listener", l.GetName(), l))
	}
	for _, r := range o.Routes {
		add(Resource("route", r.GetName(), r))
	}
	for _, e := range o.Endpoints {
		add(Resource("endpoints", e.GetClusterName(), e))
	}
	return errs
}
