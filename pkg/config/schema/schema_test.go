package schema_test

import (
	"testing"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

// TestPlural checks resource names against the Kubernetes API paths of the kinds.
func TestPlural(t *testing.T) {
	want := map[config.Kind]string{
		schema.ServiceEntry:        "serviceentries",
		schema.AuthorizationPolicy: "authorizationpolicies",
		schema.Telemetry:           "telemetries",
		schema.ProxyConfig:         "proxyconfigs",
		schema.Gateway:             "gateways",
		schema.VirtualService:      "virtualservices",
		schema.EndpointSlice:       "endpointslices",
		schema.WasmPlugin:          "wasmplugins",
	}
	for k, w := range want {
		s := schema.ByKind(k)
		if s == nil {
			t.Errorf("%v: no schema", k)
			continue
		}
		if got := s.Plural(); got != w {
			t.Errorf("%v: Plural() = %q, want %q", k, got, w)
		}
	}
}
