package envoyfilter

import (
	"cmp"
	"fmt"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/sextant-mesh/sextant/pilot/pkg/networking/protoconv"
)

var durationName = (&durationpb.Duration{}).ProtoReflect().Descriptor().FullName()

// isMerge reports whether op merges the value into the matched object.
func isMerge(op Operation) bool { return op == opMerge || op == opMergeReplaceLists }

// mergeValue merges src into dst as istiod's MERGE does: proto.Merge's semantics (fields set
// in src overwrite scalars, merge into messages, append to lists, replace map entries; a
// different oneof member replaces the current one; unset proto3 scalars, false or 0, are not
// "set" and change nothing), except that a Duration is replaced whole rather than merged
// field by field (so 2.5s then 0.5s gives 0.5s). MERGE_AND_REPLACE_LIST also replaces each
// list src sets instead of appending to it. Nothing of src is shared with dst afterwards.
func mergeValue(op Operation, dst, src proto.Message) {
	if src == nil {
		return
	}
	mergeMessage(dst.ProtoReflect(), src.ProtoReflect(), op == opMergeReplaceLists)
}

func mergeMessage(dst, src protoreflect.Message, replaceLists bool) {
	src.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList():
			dl := dst.Mutable(fd).List()
			if replaceLists {
				dl.Truncate(0)
			}
			sl := v.List()
			for i := 0; i < sl.Len(); i++ {
				dl.Append(cloneValue(fd, sl.Get(i)))
			}
		case fd.IsMap():
			dm := dst.Mutable(fd).Map()
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				dm.Set(k, cloneValue(fd.MapValue(), mv))
				return true
			})
		case fd.Message() != nil && fd.Message().FullName() == durationName:
			dst.Set(fd, cloneValue(fd, v))
		case fd.Message() != nil:
			mergeMessage(dst.Mutable(fd).Message(), v.Message(), replaceLists)
		default:
			dst.Set(fd, cloneValue(fd, v))
		}
		return true
	})
	if u := src.GetUnknown(); len(u) > 0 {
		dst.SetUnknown(append(dst.GetUnknown(), u...))
	}
}

// cloneValue copies a singular value of field (or map value) fd: messages deeply, bytes.
func cloneValue(fd protoreflect.FieldDescriptor, v protoreflect.Value) protoreflect.Value {
	switch {
	case fd.Message() != nil:
		return protoreflect.ValueOfMessage(proto.Clone(v.Message().Interface()).ProtoReflect())
	case fd.Kind() == protoreflect.BytesKind:
		return protoreflect.ValueOfBytes(append([]byte(nil), v.Bytes()...))
	}
	return v
}

// mergeAny merges the unpacked src into the message dst holds, istiod's merge of one
// typed_config into another, and returns the result packed again. The types must be the
// same: istiod crashes on a mismatch (and drops the patches of that push); Sextant reports
// an error and leaves dst as it is.
func mergeAny(dst *anypb.Any, src proto.Message) (*anypb.Any, error) {
	d, err := dst.UnmarshalNew()
	if err != nil {
		return nil, err
	}
	if dn, sn := d.ProtoReflect().Descriptor().FullName(), src.ProtoReflect().Descriptor().FullName(); dn != sn {
		return nil, fmt.Errorf("cannot merge %s into %s", sn, dn)
	}
	mergeValue(opMerge, d, src)
	return protoconv.MessageToAny(d), nil
}

// mergeEncoding returns src encoded so that a message's encoding followed by it decodes
// as the message with src merged in by mergeValue(opMerge, ...): a protobuf parser merges
// a field met again into what it holds (scalars and oneofs: the last wins; lists append;
// map entries replace; messages merge field by field; unknown fields append). The one
// difference is Durations, which mergeValue replaces whole: each singular Duration is
// written with both its fields, zero ones too, so that it overwrites both. A patched
// cluster is then its cached encoding and this one, with no decoding. It fails for group
// fields (none in Envoy's API).
func mergeEncoding(src proto.Message) ([]byte, error) {
	return appendMergeEncoding(nil, src.ProtoReflect())
}

func appendMergeEncoding(b []byte, m protoreflect.Message) ([]byte, error) {
	var fields []protoreflect.FieldDescriptor
	m.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		fields = append(fields, fd)
		return true
	})
	slices.SortFunc(fields, func(a, b protoreflect.FieldDescriptor) int { return cmp.Compare(a.Number(), b.Number()) })
	for _, fd := range fields {
		v := m.Get(fd)
		switch {
		case fd.Kind() == protoreflect.GroupKind:
			return nil, fmt.Errorf("field %s is a group", fd.FullName())
		case fd.IsList() || fd.IsMap() || fd.Message() == nil:
			// Appended, replaced entry by entry, or set: as mergeValue does.
			one := m.Type().New()
			one.Set(fd, v)
			var err error
			if b, err = (proto.MarshalOptions{Deterministic: true}).MarshalAppend(b, one.Interface()); err != nil {
				return nil, err
			}
		case fd.Message().FullName() == durationName:
			// seconds (int64) and nanos (int32): varints, negatives sign-extended.
			var body []byte
			for n := protowire.Number(1); n <= 2; n++ {
				body = protowire.AppendTag(body, n, protowire.VarintType)
				body = protowire.AppendVarint(body, uint64(v.Message().Get(fd.Message().Fields().ByNumber(n)).Int()))
			}
			b = protowire.AppendTag(b, fd.Number(), protowire.BytesType)
			b = protowire.AppendBytes(b, body)
		default:
			sub, err := appendMergeEncoding(nil, v.Message())
			if err != nil {
				return nil, err
			}
			b = protowire.AppendTag(b, fd.Number(), protowire.BytesType)
			b = protowire.AppendBytes(b, sub)
		}
	}
	return append(b, m.GetUnknown()...), nil
}
