package validation

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/validate/content"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

// Validate checks c against istiod's rules for its kind. It returns warnings (accepted
// but suspicious) and an error listing every violation, each a *FieldError naming the
// field ("spec.http[0].route[1].weight: ..."), joined with errors.Join. Kinds without
// rules (Kubernetes kinds) are accepted as decoded. Validate does not alter c.
func Validate(c *config.Config) (warnings []string, err error) {
	v := validators[c.Kind]
	if v == nil {
		return nil, nil
	}
	r := &report{}
	validateMetadata(c, r)
	v(c, r)
	return r.result()
}

// validator checks the spec of one kind, adding what it finds to r.
type validator func(c *config.Config, r *report)

// validators maps kinds to their rules; kinds without an entry are accepted as decoded.
var validators = map[config.Kind]validator{
	schema.VirtualService:        validateVirtualService,
	schema.DestinationRule:       validateDestinationRule,
	schema.ServiceEntry:          validateServiceEntry,
	schema.WorkloadEntry:         validateWorkloadEntry,
	schema.WorkloadGroup:         validateWorkloadGroup,
	schema.Gateway:               validateGateway,
	schema.Sidecar:               validateSidecar,
	schema.EnvoyFilter:           validateEnvoyFilter,
	schema.ProxyConfig:           validateProxyConfig,
	schema.PeerAuthentication:    validatePeerAuthentication,
	schema.RequestAuthentication: validateRequestAuthentication,
	schema.AuthorizationPolicy:   validateAuthorizationPolicy,
	schema.Telemetry:             validateTelemetry,
	schema.WasmPlugin:            validateWasmPlugin,
}

// specAs returns the spec of c as a T, or records that it is not one.
func specAs[T any](c *config.Config, r *report) (T, bool) {
	s, ok := c.Spec.(T)
	if !ok {
		r.errorf("spec", "unexpected spec type %T for %s", c.Spec, c.Kind.Kind)
	}
	return s, ok
}

// Annotations istiod reserves for itself or gives a meaning to at admission.
const (
	annotationDryRun          = "istio.io/dry-run"
	annotationAlwaysReject    = "internal.istio.io/webhook-always-reject"
	annotationParentNamespace = "internal.istio.io/parent-namespace"
	annotationParents         = "internal.istio.io/parents"
	// Annotations that mark objects translated from the Gateway API, which relax some
	// name rules. istiod honours them on any object, so Sextant does too.
	annotationRouteSemantics   = "internal.istio.io/route-semantics"
	annotationGatewaySemantics = "internal.istio.io/gateway-semantics"
)

// maxAnnotationsSize is the Kubernetes limit on the total size of an object's annotations.
const maxAnnotationsSize = 256 * 1024

// validateMetadata applies the rules the Kubernetes API server applies to every custom
// resource's metadata (name a DNS-1123 subdomain, namespace a DNS-1123 label, label and
// annotation syntax), and the annotation rules istiod's webhook adds.
func validateMetadata(c *config.Config, r *report) {
	for _, msg := range content.IsDNS1123Subdomain(c.Name) {
		r.errorf("metadata.name", "%q is invalid: %s", c.Name, msg)
	}
	if c.Namespace != "" {
		for _, msg := range content.IsDNS1123Label(c.Namespace) {
			r.errorf("metadata.namespace", "%q is invalid: %s", c.Namespace, msg)
		}
	}
	for _, k := range sortedKeys(c.Labels) {
		for _, msg := range content.IsLabelKey(k) {
			r.errorf(path("metadata.labels").key(k), "invalid label key: %s", msg)
		}
		for _, msg := range content.IsLabelValue(c.Labels[k]) {
			r.errorf(path("metadata.labels").key(k), "invalid label value %q: %s", c.Labels[k], msg)
		}
	}
	size := 0
	for _, k := range sortedKeys(c.Annotations) {
		size += len(k) + len(c.Annotations[k])
		for _, msg := range content.IsLabelKey(strings.ToLower(k)) {
			r.errorf(path("metadata.annotations").key(k), "invalid annotation key: %s", msg)
		}
	}
	if size > maxAnnotationsSize {
		r.errorf("metadata.annotations", "annotations are %d bytes, more than the limit of %d", size, maxAnnotationsSize)
	}
	validateReservedAnnotations(c, r)
}

// validateReservedAnnotations rejects the annotations istiod keeps for itself and checks
// istio.io/dry-run, which only an ALLOW or DENY AuthorizationPolicy may carry.
func validateReservedAnnotations(c *config.Config, r *report) {
	for _, a := range []string{annotationAlwaysReject, annotationParentNamespace, annotationParents} {
		if _, ok := c.Annotations[a]; ok {
			r.errorf(path("metadata.annotations").key(a), "annotation %q may not be set by users", a)
		}
	}
	val, ok := c.Annotations[annotationDryRun]
	if !ok {
		return
	}
	p := path("metadata.annotations").key(annotationDryRun)
	if c.Kind != schema.AuthorizationPolicy {
		r.errorf(p, "annotation %s is only supported on AuthorizationPolicy", annotationDryRun)
		return
	}
	validateDryRun(c, val, p, r)
}

// parseBool accepts what Go's strconv.ParseBool accepts, as istiod does for dry-run.
func parseBool(s string) error {
	switch s {
	case "1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False":
		return nil
	}
	return fmt.Errorf("invalid value %q, want true or false", s)
}
