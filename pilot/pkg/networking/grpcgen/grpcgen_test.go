package grpcgen_test

import (
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/sextant-mesh/sextant/pilot/pkg/networking/generate"
	"github.com/sextant-mesh/sextant/tests/golden"
	"github.com/sextant-mesh/sextant/tests/xdsvalidate"
)

// TestGolden asks for each case's targets the way a gRPC client does - the listeners, the
// routes they name, the clusters the routes use, the endpoints of EDS clusters
// (generate.ForProxy) - and compares every resource, by name, with what istiod sent. Each
// must pass Envoy's proto validation but for the documented gRPC-only exceptions.
func TestGolden(t *testing.T) {
	cases, err := filepath.Glob("testdata/*/expected.json")
	if err != nil || len(cases) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, expected := range cases {
		dir := filepath.Dir(expected)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			c := golden.Case(t, dir)
			if !c.Proxy.IsProxylessGRPC() {
				t.Fatal("not a proxyless gRPC client")
			}
			out := generate.ForProxy(c.Push, c.Proxy, c.Spec.Listeners)
			check(t, "listeners", expected, out.Listeners)
			check(t, "routes", expected, out.Routes)
			check(t, "clusters", expected, out.Clusters)
			check(t, "endpoints", expected, out.Endpoints)
		})
	}
}

func check[T proto.Message](t *testing.T, kind, expected string, got []T) {
	t.Helper()
	for _, m := range got {
		if err := xdsvalidate.GRPCResource(kind, golden.Name(m), m); err != nil {
			t.Errorf("invalid: %v", err)
		}
	}
	golden.Compare(t, kind, golden.ReadExpected(t, expected, kind), golden.JSON(t, got))
}
