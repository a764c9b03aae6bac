// Package validation applies istiod's admission rules to Istio configuration, so that an
// object istiod's validating webhook would reject is rejected here too, and one it would
// accept with warnings gets the same warnings.
//
// Validate is the only entry point. Every violation is a *FieldError naming the field
// it concerns as it is spelled in the manifest ("spec.http[0].route[1].weight",
// "spec.ports[http]" for a map key, "metadata.name"); all violations of an object are
// returned together, joined with errors.Join, rather than only the first. Messages keep
// istiod's wording where istiod has one, so that they can be searched for.
//
// Besides istiod's spec rules, Validate applies the metadata rules the Kubernetes API
// server applies to custom resources (name, namespace, label and annotation syntax),
// since Sextant also reads objects from files that never went through an API server.
//
// The package checks one object at a time: rules that need other objects (does the
// gateway a route names exist?) belong to the model. Kubernetes kinds are not validated.
//
// Files are split by kind or family of kinds; small shared checks live in hosts.go,
// ports.go, durations.go, regex.go, labels.go and headers.go, and report.go holds the
// error collection. The package depends only on pkg/config and its leaf packages, the
// Istio and Envoy API types and the protobuf runtime; it must never import pilot/...
package validation
