package model_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/generate"
	"github.com/sextant-mesh/sextant/pkg/config/protocol"
)

// TestSidecarScopeMatchesUpstreamClusters checks, for every sidecar case of the compat
// corpus, that the (host, port) pairs the proxy's SidecarScope imports are exactly those
// upstream istiod built outbound clusters for (expected.json, from the oracle).
func TestSidecarScopeMatchesUpstreamClusters(t *testing.T) {
	dirs, _ := filepath.Glob("../../../tests/compat/cases/*/expected.json")
	if len(dirs) == 0 {
		t.Fatal("no compat cases found")
	}
	for _, exp := range dirs {
		dir := filepath.Dir(exp)
		spec, err := generate.LoadProxySpec(filepath.Join(dir, "proxy.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if spec.Type == "router" || spec.Generator == "grpc" {
			continue
		}
		t.Run(filepath.Base(dir), func(t *testing.T) {
			want, wantInbound := upstreamClusters(t, exp)
			res, err := generate.Run(generate.CaseRequest(dir))
			if err != nil {
				t.Fatal(err)
			}
			p, _ := spec.Proxy()
			res.Push.InitProxy(p)
			var got []string
			for _, s := range p.SidecarScope.Services() {
				if s.Resolution == model.Alias {
					continue // no cluster of its own: an alias of the service it names
				}
				for _, port := range s.Ports {
					if port.Protocol == protocol.UDP {
						continue // Envoy sidecars do not proxy UDP
					}
					got = append(got, fmt.Sprintf("%s:%d", s.Hostname, port.Port))
				}
			}
			sort.Strings(got)
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("imported host:port (-upstream +sextant):\n%s", d)
			}
			var inbound []string
			for _, st := range p.ServiceTargets {
				inbound = append(inbound, fmt.Sprint(st.TargetPort))
			}
			sort.Strings(inbound)
			inbound = dedup(inbound)
			if d := cmp.Diff(wantInbound, inbound, cmpopts.EquateEmpty()); d != "" && p.SidecarScope.Sidecar.GetIngress() == nil {
				t.Errorf("inbound ports (-upstream +sextant):\n%s", d)
			}
		})
	}
}

func dedup(in []string) []string {
	var out []string
	for i, s := range in {
		if i == 0 || s != in[i-1] {
			out = append(out, s)
		}
	}
	return out
}

// upstreamClusters returns the host:port of upstream's outbound clusters and the ports of
// its inbound clusters.
func upstreamClusters(t *testing.T, path string) (outbound, inbound []string) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Names map[string][]string `json:"names"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{}
	for _, c := range doc.Names["clusters"] {
		parts := strings.Split(c, "|")
		if len(parts) == 4 && parts[0] == "outbound" {
			set[parts[3]+":"+parts[1]] = true
		}
		if len(parts) == 4 && parts[0] == "inbound" {
			inbound = append(inbound, parts[1])
		}
	}
	for k := range set {
		outbound = append(outbound, k)
	}
	sort.Strings(outbound)
	sort.Strings(inbound)
	return outbound, inbound
}
