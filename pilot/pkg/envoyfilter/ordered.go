package envoyfilter

import "google.golang.org/protobuf/proto"

// Ordered-list operations shared by listener filters, network filters, HTTP filters and
// routes. Each inserts a fresh copy of the patch value, so later patches and later pushes
// never see another's changes.

// clone copies a patch value as the element type of the list it goes into.
func clone[E proto.Message](v proto.Message) E { return proto.Clone(v).(E) }

// prepend puts v first.
func prepend[E any](s []E, v E) []E { return append([]E{v}, s...) }

// orderedOp applies an ADD, INSERT_FIRST, INSERT_BEFORE, INSERT_AFTER, REPLACE or REMOVE
// to an ordered list, as istiod does for filters and routes: without a match on the
// element (hasMatch false), INSERT_AFTER appends, INSERT_BEFORE prepends, and REPLACE and
// REMOVE do nothing; with one, they act on the first matching element (REMOVE on all).
// newValue is called only when something is inserted.
func orderedOp[E any](s []E, op Operation, hasMatch bool, at func(E) bool, newValue func() E) []E {
	switch op {
	case opAdd:
		return append(s, newValue())
	case opInsertFirst:
		return prepend(s, newValue())
	case opInsertAfter, opInsertBefore:
		if !hasMatch {
			if op == opInsertAfter {
				return append(s, newValue())
			}
			return prepend(s, newValue())
		}
		for i, e := range s {
			if at(e) {
				if op == opInsertAfter {
					i++
				}
				return append(s[:i], append([]E{newValue()}, s[i:]...)...)
			}
		}
	case opReplace:
		if hasMatch {
			for i, e := range s {
				if at(e) {
					s[i] = newValue()
					break
				}
			}
		}
	case opRemove:
		if hasMatch {
			out := s[:0]
			for _, e := range s {
				if !at(e) {
					out = append(out, e)
				}
			}
			return out
		}
	}
	return s
}
