package endpoint_test

import (
	"bytes"
	"maps"
	"path/filepath"
	"slices"
	"testing"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/proto"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/endpoint"
	"github.com/sextant-mesh/sextant/tests/golden"
)

// elsewhere moves a proxy to another node, locality and topology: what the assignments
// of node-local services and of locality-weighted or prioritised clusters read.
func elsewhere(p *model.Proxy) *model.Proxy {
	q := *p
	q.Locality = model.Locality{Region: "far-away1", Zone: "far-away1-z", Subzone: "s9"}
	q.Labels = maps.Clone(p.Labels)
	if q.Labels == nil {
		q.Labels = map[string]string{}
	}
	q.Labels["topology.kubernetes.io/region"] = "far-away1"
	q.Labels["topology.kubernetes.io/zone"] = "far-away1-z"
	md := model.NodeMetadata{}
	if p.Metadata != nil {
		md = *p.Metadata
	}
	md.Raw = maps.Clone(md.Raw)
	if md.Raw == nil {
		md.Raw = map[string]any{}
	}
	md.Raw["NODE_NAME"] = "node-b" // eds-traffic-distribution has endpoints there
	q.Metadata = &md
	return &q
}

func encodings(t *testing.T, rs []*endpointv3.ClusterLoadAssignment) [][]byte {
	t.Helper()
	out := make([][]byte, len(rs))
	for i, r := range rs {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = b
	}
	return out
}

// TestCacheMatchesBuildAcrossProxies builds every golden case's assignments through one
// cache for the case's proxy, then for the same proxy on another node and in another
// locality: each must equal a fresh build for that proxy, so the cache shares only what
// does not depend on where the proxy is. The cases include node-local services and
// locality failover, so some assignments do differ between the two proxies.
func TestCacheMatchesBuildAcrossProxies(t *testing.T) {
	dirs, err := filepath.Glob("testdata/*/endpoints.golden.json")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	differ, shared := 0, 0
	for _, g := range dirs {
		dir := filepath.Dir(g)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			c := golden.Case(t, dir)
			names := slices.Sorted(maps.Keys(golden.Read(t, g)))
			cache := endpoint.NewCache()
			var first [][]byte
			for i, p := range []*model.Proxy{c.Proxy, elsewhere(c.Proxy), c.Proxy} {
				got, fresh := cache.Build(c.Push, p, names), endpoint.BuildEndpoints(c.Push, p, names)
				if err := golden.SameAssignments(got, fresh); err != nil {
					t.Fatalf("proxy %d: the cache's assignments differ from a fresh build: %v", i, err)
				}
				for _, r := range got {
					if r.Any != nil {
						shared++
					}
				}
				want := encodings(t, fresh)
				if i == 0 {
					first = want
				} else if i == 1 {
					for j := range want {
						if !bytes.Equal(want[j], first[j]) {
							differ++
						}
					}
				}
			}
		})
	}
	if differ == 0 || shared == 0 {
		t.Fatalf("%d assignments differ between the proxies and %d were shared: the test proves nothing", differ, shared)
	}
}
