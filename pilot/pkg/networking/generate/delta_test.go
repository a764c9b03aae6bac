package generate

import (
	"bytes"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/cluster"
	"github.com/sextant-mesh/sextant/pilot/pkg/xds"
	"github.com/sextant-mesh/sextant/pilot/pkg/xds/debounce"
	"github.com/sextant-mesh/sextant/pilot/pkg/xds/xdstest"
	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/mesh"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
	"github.com/sextant-mesh/sextant/tests/fixture"
)

// TestDeltaClientHoldsAFreshBuild drives the ADS server with its real generators over a
// Delta stream, applying each response to what the client holds as Envoy does, through
// DestinationRule edits (which the cluster generator answers as changes to the
// connection's last clusters), rules adding and removing subset clusters, services added
// and removed. After each change the client must come to hold exactly a fresh build's
// clusters, and a rule edit must send its host's clusters, not all of them.
func TestDeltaClientHoldsAFreshBuild(t *testing.T) {
	store := model.NewStore()
	for i, name := range []string{"web", "api", "db", "cache"} {
		store.Set(fixture.KubeService("team", name, "10.96.0."+string(rune('1'+i)), 80))
	}
	s := xds.NewServer(store, mesh.Default(), Generators(),
		xds.Options{Debounce: debounce.Options{After: time.Millisecond, Max: 10 * time.Millisecond, EDSDebounce: true}, ControlPlaneID: "test"})
	conn := xdstest.Serve(t, s)
	st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	node := &corev3.Node{Id: "sidecar~10.1.0.1~web-0.team~team.svc.cluster.local"}
	if err := st.Send(&discoveryv3.DeltaDiscoveryRequest{Node: node, TypeUrl: xds.ClusterType}); err != nil {
		t.Fatal(err)
	}
	responses := make(chan *discoveryv3.DeltaDiscoveryResponse, 100)
	go func() {
		for {
			r, err := st.Recv()
			if err != nil {
				close(responses)
				return
			}
			responses <- r
		}
	}()

	held := map[string][]byte{}
	largest := 0 // resources in the largest response since the last check
	apply := func(r *discoveryv3.DeltaDiscoveryResponse) {
		for _, res := range r.GetResources() {
			held[res.GetName()] = res.GetResource().GetValue()
		}
		for _, n := range r.GetRemovedResources() {
			delete(held, n)
		}
		largest = max(largest, len(r.GetResources()))
		_ = st.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: xds.ClusterType, ResponseNonce: r.GetNonce()})
	}
	// converge applies responses until the server has a PushContext after before and the
	// client holds a fresh build of its clusters; it returns the largest response's size.
	var before *model.PushContext
	converge := func(what string) int {
		t.Helper()
		largest = 0
		deadline := time.After(5 * time.Second)
		for {
			diff := "the change is not in the PushContext yet"
			if cs := s.Connections(); len(cs) == 1 && s.PushContext() != before {
				diff = heldDiff(held, cluster.BuildClusters(s.PushContext(), cs[0].CurrentProxy()))
				if diff == "" {
					return largest
				}
			}
			select {
			case r, ok := <-responses:
				if !ok {
					t.Fatalf("%s: stream closed", what)
				}
				apply(r)
			case <-time.After(50 * time.Millisecond):
			case <-deadline:
				t.Fatalf("%s: the client does not hold a fresh build: %s", what, diff)
			}
		}
	}
	change := func(c *config.Config, del bool) {
		before = s.PushContext()
		if del {
			store.Delete(c.Key())
		} else {
			store.Set(c)
		}
		s.ConfigUpdate(&model.PushRequest{Full: true, ConfigsUpdated: map[config.Key]struct{}{c.Key(): {}}})
	}
	rule := func(h string, timeout time.Duration, subsets ...string) *config.Config {
		dr := &networkingv1alpha3.DestinationRule{Host: h + ".team.svc.cluster.local", TrafficPolicy: &networkingv1alpha3.TrafficPolicy{
			ConnectionPool: &networkingv1alpha3.ConnectionPoolSettings{Tcp: &networkingv1alpha3.ConnectionPoolSettings_TCPSettings{ConnectTimeout: durationpb.New(timeout)}}}}
		for _, ss := range subsets {
			dr.Subsets = append(dr.Subsets, &networkingv1alpha3.Subset{Name: ss, Labels: map[string]string{"version": ss}})
		}
		return &config.Config{Meta: config.Meta{Kind: schema.DestinationRule, Namespace: "team", Name: h}, Spec: dr}
	}

	all := converge("first response")
	change(rule("api", time.Second, "v1"), false)
	converge("a rule with a subset")
	for i := range 3 {
		change(rule("api", time.Duration(2+i)*time.Second, "v1"), false)
		if n := converge("a rule edit"); n == 0 || n >= all {
			t.Errorf("a rule edit sent %d clusters (%d at first): want its host's only", n, all)
		}
	}
	change(rule("api", time.Second, "v1", "v2"), false)
	converge("a subset added")
	change(rule("api", time.Second), false)
	converge("the subsets removed")
	change(fixture.KubeService("team", "queue", "10.96.0.9", 80), false)
	converge("a service added")
	change(fixture.KubeService("team", "db", "10.96.0.3", 80), true)
	converge("a service removed")
	change(rule("cache", time.Second), false)
	converge("a rule for another host")
	change(rule("api", time.Second), true)
	converge("a rule removed")
}

// heldDiff describes how what the client holds differs from a fresh build ("": not).
func heldDiff[T interface {
	GetName() string
	proto.Message
}](held map[string][]byte, want []T) string {
	if len(held) != len(want) {
		return "a different number of clusters"
	}
	for _, w := range want {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(w)
		if err != nil || !bytes.Equal(held[w.GetName()], b) {
			return "cluster " + w.GetName() + " differs"
		}
	}
	return ""
}
