package meshdir

import (
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	"sigs.k8s.io/yaml"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

// IsolationSidecars returns, for each namespace given, a namespace-wide Sidecar named
// "default" whose egress imports only its own namespace and istio-system: proxies there
// cannot see services of other namespaces, so changes elsewhere must not reach them.
func IsolationSidecars(namespaces []string) []*config.Config {
	out := make([]*config.Config, 0, len(namespaces))
	for _, ns := range namespaces {
		out = append(out, &config.Config{
			Meta: config.Meta{Kind: schema.Sidecar, Namespace: ns, Name: "default"},
			Spec: &networkingv1alpha3.Sidecar{Egress: []*networkingv1alpha3.IstioEgressListener{
				{Hosts: []string{"./*", "istio-system/*"}},
			}},
		})
	}
	return out
}

// Proxy is the proxy.yaml of a case directory (the format ../shared/oracle and
// `pilot-discovery generate` read): which proxy to generate for.
type Proxy struct {
	Type      string            `json:"type"` // sidecar or router
	IP        string            `json:"ip"`   // must be a Pod's status.podIP
	Namespace string            `json:"namespace"`
	Pod       string            `json:"pod"`
	Labels    map[string]string `json:"labels,omitempty"`
}

// WriteProxy writes p as YAML to path.
func WriteProxy(path string, p Proxy) error {
	b, err := yaml.Marshal(p)
	if err != nil {
		return err
	}
	return writeAtomic(path, b)
}

// Namespaces returns the names of the Namespace objects among configs, in order.
func Namespaces(configs []*config.Config) []string {
	var out []string
	for _, c := range configs {
		if c.Kind == schema.Namespace {
			out = append(out, c.Name)
		}
	}
	return out
}
