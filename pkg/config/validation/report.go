package validation

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
)

// FieldError is one violation of a rule: the field it concerns and what is wrong with it.
// Validate joins every FieldError of an object with errors.Join, so callers can list them
// with errors.As or by unwrapping the joined error.
type FieldError struct {
	// Field is the path of the offending field in the manifest, in the YAML/JSON spelling:
	// "spec.http[0].route[1].weight", "metadata.name", "spec.ports[http]" for a map key.
	// It is "spec" or "metadata" for rules about a whole object.
	Field string
	// Message says what is wrong, in istiod's wording where istiod has one.
	Message string
}

// Error renders the error as "field: message".
func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// path is a field path under construction, such as "spec.http[0].route".
type path string

// field returns the path of the named child field.
func (p path) field(name string) path {
	if p == "" {
		return path(name)
	}
	return p + "." + path(name)
}

// index returns the path of the i-th element of the list at p.
func (p path) index(i int) path { return p + "[" + path(strconv.Itoa(i)) + "]" }

// key returns the path of the map entry k of the map at p.
func (p path) key(k string) path { return p + "[" + path(k) + "]" }

// report collects the errors and warnings of one object, in the order the fields appear.
type report struct {
	errs     []error
	warnings []string
}

// errorf records a violation at p.
func (r *report) errorf(p path, format string, args ...any) {
	r.errs = append(r.errs, &FieldError{Field: string(p), Message: fmt.Sprintf(format, args...)})
}

// warnf records a warning at p: the object is accepted but probably not what was meant.
func (r *report) warnf(p path, format string, args ...any) {
	r.warnings = append(r.warnings, (&FieldError{Field: string(p), Message: fmt.Sprintf(format, args...)}).Error())
}

// add records err, if any, as a violation at p. A joined error is recorded as one
// violation per part.
func (r *report) add(p path, err error) {
	if err == nil {
		return
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			r.add(p, e)
		}
		return
	}
	r.errs = append(r.errs, &FieldError{Field: string(p), Message: err.Error()})
}

// result returns what the report collected, in Validate's form.
func (r *report) result() ([]string, error) {
	return r.warnings, errors.Join(r.errs...)
}

// sortedKeys returns the keys of m in order, so that map fields are reported
// deterministically.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
