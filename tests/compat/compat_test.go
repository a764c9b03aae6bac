package compat

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/sextant-mesh/sextant/pilot/pkg/networking/generate"
	"github.com/sextant-mesh/sextant/tests/compat/compare"
	"github.com/sextant-mesh/sextant/tests/xdsvalidate"
)

var updateBaseline = flag.Bool("update-baseline", false, "raise baseline.json floors to the current results")

// inScope lists the cases whose features the translation issue covers: services,
// ServiceEntry, VirtualService, DestinationRule, Sidecar, mTLS defaults, proxyless gRPC.
// The others (EnvoyFilter, authn/authz policies, gateways, Telemetry) are measured too.
var inScope = map[string]bool{
	"01-k8s-bookinfo-http": true, "02-k8s-grpc-tcp-headless-multiport": true,
	"03-serviceentry-external-dns-wildcard": true, "04-serviceentry-static-workloadentry": true,
	"05-vs-http-matches-weights": true, "06-vs-timeouts-retries-faults": true,
	"07-vs-mirror-rewrite-redirect": true, "08-vs-headers-cors": true,
	"09-vs-delegate-exportto-gateways": true, "10-vs-tcp-tls-routes": true,
	"11-dr-lb-connpool-outlier": true, "12-dr-tls-portlevel-subset-exportto": true,
	"13-sidecar-egress-namespace-only": true, "14-sidecar-workload-ingress-registry-only": true,
	"17-peerauthn-mesh-strict": true, "24-multins-exportto-sidecar-visibility": true,
	"25-helm-mesh-bookinfo": true, "26-helm-mesh-peerauthn-strict": true,
	"27-grpc-proxyless-vs-weights": true,
}

type caseResult struct {
	Equal, Total int
	ByType       map[string][2]int
}

func TestCompat(t *testing.T) {
	ignores, err := compare.ParseIgnored("IGNORED.md")
	if err != nil {
		t.Fatal(err)
	}
	dirs, err := filepath.Glob("cases/*/expected.json")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no cases found: %v", err)
	}
	results := map[string]caseResult{}
	for _, exp := range dirs {
		dir := filepath.Dir(exp)
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			results[name] = runCase(t, dir, ignores)
		})
	}
	report(t, results)
	checkBaseline(t, results)
}

func runCase(t *testing.T, dir string, ignores []compare.Ignore) caseResult {
	req := generate.Request{ConfigDir: dir, ProxyFile: filepath.Join(dir, "proxy.yaml")}
	if m := filepath.Join(dir, "mesh.yaml"); fileExists(m) {
		req.MeshFile = m
	}
	res, err := generate.Run(req)
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	for _, p := range res.Problems {
		if !p.Warning {
			t.Errorf("input rejected (the oracle accepted it): %v", p)
		}
	}
	for _, err := range xdsvalidate.Output(res.Output) {
		t.Errorf("invalid resource: %v", err)
	}
	js, err := res.Output.JSON()
	if err != nil {
		t.Fatal(err)
	}
	got, err := compare.ParseDoc(js)
	if err != nil {
		t.Fatal(err)
	}
	want, err := compare.LoadDoc(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	cr := caseResult{ByType: map[string][2]int{}}
	for _, r := range compare.Compare(want, got, ignores) {
		bt := cr.ByType[r.Type]
		bt[1]++
		cr.Total++
		if r.Status == "equal" {
			bt[0]++
			cr.Equal++
		} else {
			t.Logf("%s %s %s", r.Type, r.Status, r.Name)
		}
		cr.ByType[r.Type] = bt
	}
	return cr
}

func report(t *testing.T, results map[string]caseResult) {
	names := make([]string, 0, len(results))
	for n := range results {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	var scopeEq, scopeTot, allEq, allTot int
	fmt.Fprintf(&b, "\n%-45s %5s  %-9s %-9s %-9s %-9s %-9s\n", "case", "scope", "clusters", "listeners", "routes", "endpoints", "total")
	for _, n := range names {
		r := results[n]
		allEq, allTot = allEq+r.Equal, allTot+r.Total
		scope := ""
		if inScope[n] {
			scope = "yes"
			scopeEq, scopeTot = scopeEq+r.Equal, scopeTot+r.Total
		}
		fmt.Fprintf(&b, "%-45s %5s", n, scope)
		for _, typ := range compare.Types {
			c := r.ByType[typ]
			fmt.Fprintf(&b, "  %-9s", fmt.Sprintf("%d/%d", c[0], c[1]))
		}
		fmt.Fprintf(&b, " %d/%d\n", r.Equal, r.Total)
	}
	fmt.Fprintf(&b, "in scope: %d/%d equal (%.1f%%); all cases: %d/%d equal (%.1f%%)\n",
		scopeEq, scopeTot, pct(scopeEq, scopeTot), allEq, allTot, pct(allEq, allTot))
	t.Log(b.String())
}

func pct(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

// checkBaseline fails for every case whose equal count fell below its floor.
func checkBaseline(t *testing.T, results map[string]caseResult) {
	const path = "baseline.json"
	floors := map[string]int{}
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &floors); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	for n, r := range results {
		if r.Equal < floors[n] {
			t.Errorf("%s: %d resources equal, below the baseline floor of %d", n, r.Equal, floors[n])
		}
		if *updateBaseline && r.Equal > floors[n] {
			floors[n] = r.Equal
		}
	}
	if *updateBaseline {
		b, _ := json.MarshalIndent(floors, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
