// Command meshgen writes a synthetic mesh (pkg/meshgen) as a config directory: Kubernetes
// objects and Istio CRs as "---"-separated YAML, one file per kind and namespace, loadable by
// `pilot-discovery discovery --configDir DIR` and by the upstream oracle
// (`../shared/oracle -case DIR`), plus DIR/proxy.yaml naming a pod of the first service.
//
//	go run ./tools/meshgen -out /tmp/mesh -services 1000 -namespaces 50
//	~/.cache/sextant-oracle/oracle -case /tmp/mesh -summary
//
// The defaults are the shape tests/bench measures (20% of services with a VirtualService
// and a DestinationRule, one ServiceEntry per ten services). -isolated N adds a Sidecar to
// each of the first N namespaces limiting their proxies' egress to their own namespace;
// -sidecars N adds N Sidecars instead (namespace-wide ones, then per-workload ones; see
// meshgen.Spec.Sidecars). -se-services makes the services ServiceEntries (no Kubernetes
// Services), e.g. the 10k-ServiceEntry mesh of the side-by-side load test:
//
//	go run ./tools/meshgen -out /tmp/mesh -se-services -services 10000 -namespaces 50 \
//	    -service-entries 0 -envoy-filters 500 -sidecars 1000
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sextant-mesh/sextant/pkg/meshgen"
	"github.com/sextant-mesh/sextant/tools/meshgen/meshdir"
)

func main() {
	out := flag.String("out", "", "directory to write (created if missing; required)")
	proxy := flag.String("proxy", "", `where to write proxy.yaml (default OUT/proxy.yaml; "-" for none)`)
	var s meshgen.Spec
	flag.IntVar(&s.Namespaces, "namespaces", 50, "namespaces the services are spread over")
	flag.IntVar(&s.Services, "services", 1000, "services (Kubernetes Services, or ServiceEntries with -se-services)")
	flag.BoolVar(&s.ServiceEntryServices, "se-services", false, "make the services MESH_INTERNAL STATIC ServiceEntries with inline endpoints instead of Kubernetes Services")
	flag.IntVar(&s.EndpointsPerService, "endpoints", 2, "pods (and endpoints) per service")
	flag.IntVar(&s.VirtualServicePercent, "vs-percent", 20, "share of services with a VirtualService (0-100)")
	flag.IntVar(&s.DestinationRulePercent, "dr-percent", 20, "share of services with a DestinationRule (0-100)")
	flag.IntVar(&s.ServiceEntries, "service-entries", -1, "MESH_EXTERNAL DNS ServiceEntries, besides the services (default services/10)")
	flag.IntVar(&s.EnvoyFilters, "envoy-filters", 0, "EnvoyFilters (one in ten mesh-wide, the others per workload)")
	flag.IntVar(&s.Sidecars, "sidecars", 0, "Sidecars: one namespace-wide per namespace first, then per-workload ones")
	isolated := flag.Int("isolated", 0, "namespaces (the first N) given a Sidecar that imports only their own namespace (not with -sidecars)")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "meshgen: -out is required")
		flag.Usage()
		os.Exit(2)
	}
	if s.ServiceEntries < 0 {
		s.ServiceEntries = s.Services / 10
	}
	if *isolated > 0 && s.Sidecars > 0 {
		fmt.Fprintln(os.Stderr, "meshgen: -isolated and -sidecars both add namespace-wide Sidecars; use one")
		os.Exit(2)
	}
	if err := run(*out, *proxy, s, *isolated); err != nil {
		fmt.Fprintln(os.Stderr, "meshgen:", err)
		os.Exit(1)
	}
}

func run(out, proxyPath string, s meshgen.Spec, isolated int) error {
	m := meshgen.Generate(s)
	ns := meshdir.Namespaces(m.Configs)
	configs := append(m.Configs, meshdir.IsolationSidecars(ns[:min(isolated, len(ns))])...)
	if _, err := meshdir.Write(out, configs); err != nil {
		return err
	}
	if proxyPath == "" {
		proxyPath = filepath.Join(out, "proxy.yaml")
	}
	if proxyPath != "-" {
		p := meshdir.Proxy{Type: "sidecar", IP: m.ClientIP, Namespace: m.ClientNamespace, Pod: m.ClientPod, Labels: m.ClientLabels}
		if err := meshdir.WriteProxy(proxyPath, p); err != nil {
			return err
		}
	}
	fmt.Printf("wrote %d objects to %s\n", len(configs), out)
	return nil
}
