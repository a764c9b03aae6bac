package kube

import (
	"encoding/json"
	"errors"
	"sort"
	"strings"

	"github.com/go-logr/logr"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/validation"
)

// Problem is an object of the cluster the source could not use (Err set), or used with
// warnings.
type Problem struct {
	Key             config.Key
	ResourceVersion string
	// Err lists every violation (each a *validation.FieldError where the rule names a
	// field); nil when the object was accepted with Warnings.
	Err      error
	Warnings []string
}

// Error renders the problem as "Kind namespace/name: error".
func (p Problem) Error() string {
	msg := "warnings: " + strings.Join(p.Warnings, "; ")
	if p.Err != nil {
		msg = p.Err.Error()
	}
	return p.Key.Kind.Kind + " " + p.Key.Namespace + "/" + p.Key.Name + ": " + msg
}

// MarshalJSON renders the problem for /debug.
func (p Problem) MarshalJSON() ([]byte, error) {
	out := struct {
		Kind            string   `json:"kind"`
		Namespace       string   `json:"namespace,omitempty"`
		Name            string   `json:"name"`
		ResourceVersion string   `json:"resourceVersion,omitempty"`
		Errors          []string `json:"errors,omitempty"`
		Warnings        []string `json:"warnings,omitempty"`
	}{
		Kind: p.Key.Kind.String(), Namespace: p.Key.Namespace, Name: p.Key.Name,
		ResourceVersion: p.ResourceVersion, Warnings: p.Warnings,
	}
	for _, e := range splitErrors(p.Err) {
		out.Errors = append(out.Errors, e.Error())
	}
	return json.Marshal(out)
}

// log reports the problem: one line per violation, with the field it concerns.
func (p Problem) log(log logr.Logger) {
	kv := []any{"kind", p.Key.Kind.String(), "namespace", p.Key.Namespace, "name", p.Key.Name, "resourceVersion", p.ResourceVersion}
	for _, w := range p.Warnings {
		log.Info("config warning", append(kv, "warning", w)...)
	}
	for _, e := range splitErrors(p.Err) {
		field := ""
		var fe *validation.FieldError
		if errors.As(e, &fe) {
			field = fe.Field
		}
		log.Error(e, "config rejected", append(kv, "field", field)...)
	}
}

// splitErrors unwraps an errors.Join into its parts.
func splitErrors(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func sortProblems(ps []Problem) {
	sort.Slice(ps, func(i, j int) bool { return ps[i].Key.String() < ps[j].Key.String() })
}
