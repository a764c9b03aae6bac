// Package validation applies istiod's validation rules to Istio configuration, so that an
// object istiod's webhook would reject is rejected here too, with an error naming the
// object and the field. Kubernetes kinds are not validated here.
package validation
