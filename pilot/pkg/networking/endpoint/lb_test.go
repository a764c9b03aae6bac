package endpoint

import (
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
)

func TestParseClusterKey(t *testing.T) {
	cases := []struct {
		name string
		want clusterKey
		ok   bool
	}{
		{"outbound|9080|v1|reviews.default.svc.cluster.local", clusterKey{"outbound", 9080, "v1", "reviews.default.svc.cluster.local", false}, true},
		{"outbound|80||a.b", clusterKey{"outbound", 80, "", "a.b", false}, true},
		{"outbound_.9080_.v1_.reviews.default.svc.cluster.local", clusterKey{"outbound", 9080, "v1", "reviews.default.svc.cluster.local", true}, true},
		{"outbound_.80_._.reviews.default.svc", clusterKey{"outbound", 80, "", "reviews.default.svc", true}, true},
		{"outbound_.80_._.my_.host", clusterKey{}, false},
		{"outbound|80||a|b", clusterKey{}, false},
		{"inbound|8080||", clusterKey{}, false},
		{"outbound|http||a.b", clusterKey{}, false},
		{"PassthroughCluster", clusterKey{}, false},
	}
	for _, c := range cases {
		got, ok := parseClusterKey(c.name)
		if ok != c.ok || got != c.want {
			t.Errorf("parseClusterKey(%q) = %+v, %v; want %+v, %v", c.name, got, ok, c.want, c.ok)
		}
	}
}

func TestLocalityMatches(t *testing.T) {
	l := &corev3.Locality{Region: "r1", Zone: "z1", SubZone: "s1"}
	for pattern, want := range map[string]bool{
		"r1": true, "r1/z1": true, "r1/z1/s1": true, "*": true, "r1/*": true, "r1/z1/*": true,
		"r2": false, "r1/z2": false, "r1/z1/s2": false, "": false,
	} {
		if got := localityMatches(l, pattern); got != want {
			t.Errorf("localityMatches(%q) = %v, want %v", pattern, got, want)
		}
	}
}

func llb(region, zone string, weight, priority uint32, endpoints int) *endpointv3.LocalityLbEndpoints {
	l := &endpointv3.LocalityLbEndpoints{
		Locality:            &corev3.Locality{Region: region, Zone: zone},
		LoadBalancingWeight: wrapperspb.UInt32(weight),
		Priority:            priority,
	}
	for range endpoints {
		l.LbEndpoints = append(l.LbEndpoints, &endpointv3.LbEndpoint{})
	}
	return l
}

// TestApplyLocalityFailover follows istiod's ranking: same zone 0, same region 2, other
// region 3, other region than the failover target 4; then priorities are renumbered.
func TestApplyLocalityFailover(t *testing.T) {
	proxy := &corev3.Locality{Region: "us", Zone: "us-a"}
	failover := []*networkingv1alpha3.LocalityLoadBalancerSetting_Failover{{From: "us", To: "eu"}}
	got := []*endpointv3.LocalityLbEndpoints{
		llb("ap", "ap-a", 1, 0, 1), llb("eu", "eu-a", 1, 0, 1), llb("us", "us-a", 1, 0, 1), llb("us", "us-b", 1, 0, 1),
	}
	applyLocalityFailover(proxy, got, failover)
	want := []uint32{3, 2, 0, 1}
	for i, l := range got {
		if l.Priority != want[i] {
			t.Errorf("%s: priority %d, want %d", l.GetLocality().GetZone(), l.Priority, want[i])
		}
	}
}

// TestApplyLocalityWeights checks a wildcard pattern sharing its weight in proportion,
// rounded up, and the emptying of localities no pattern matches.
func TestApplyLocalityWeights(t *testing.T) {
	proxy := &corev3.Locality{Region: "us", Zone: "us-a"}
	got := []*endpointv3.LocalityLbEndpoints{
		llb("eu", "eu-a", 1, 0, 1), llb("us", "us-a", 1, 0, 1), llb("us", "us-b", 2, 0, 2),
	}
	applyLocalityWeights(proxy, got, []*networkingv1alpha3.LocalityLoadBalancerSetting_Distribute{
		{From: "eu/*", To: map[string]uint32{"eu/*": 100}},
		{From: "us/*", To: map[string]uint32{"us/*": 50}},
	})
	wantWeights, wantEndpoints := []uint32{1, 17, 34}, []int{0, 1, 2}
	for i, l := range got {
		if l.GetLoadBalancingWeight().GetValue() != wantWeights[i] || len(l.LbEndpoints) != wantEndpoints[i] {
			t.Errorf("%s: weight %d with %d endpoints, want %d with %d", l.GetLocality().GetZone(),
				l.GetLoadBalancingWeight().GetValue(), len(l.LbEndpoints), wantWeights[i], wantEndpoints[i])
		}
	}
}

func TestLabelPriority(t *testing.T) {
	proxy := map[string]string{"topology.istio.io/network": "n1", "region": "us", "zone": "us-a"}
	cases := []struct {
		ep         map[string]string
		priorities []string
		want       uint32
	}{
		{map[string]string{"region": "us", "zone": "us-a"}, []string{"region", "zone"}, 0},
		{map[string]string{"region": "us", "zone": "us-b"}, []string{"region", "zone"}, 1},
		{map[string]string{"region": "eu", "zone": "us-a"}, []string{"region", "zone"}, 2},
		{map[string]string{"region": "us", "zone": "x"}, []string{"region", "zone=x"}, 0},
		// A different network only demotes below every same-network endpoint.
		{map[string]string{"topology.istio.io/network": "n2", "region": "us", "zone": "us-a"}, []string{"topology.istio.io/network", "region", "zone"}, 3},
		{map[string]string{"topology.istio.io/network": "n2", "region": "us", "zone": "us-b"}, []string{"topology.istio.io/network", "region", "zone"}, 4},
	}
	for _, c := range cases {
		if got := labelPriority(c.ep, proxy, c.priorities); got != c.want {
			t.Errorf("labelPriority(%v, %v) = %d, want %d", c.ep, c.priorities, got, c.want)
		}
	}
}

func TestTopologyLabels(t *testing.T) {
	got := topologyLabels(map[string]string{"app": "a", labelTopologyNetwork: "own"},
		model.Locality{Region: "us", Zone: "us-a", Subzone: "rack1"}, "Kubernetes", "n1", "node-a")
	want := map[string]string{
		"app": "a", labelTopologyNetwork: "own", labelTopologyRegion: "us", labelTopologyZone: "us-a",
		labelTopologySubzone: "rack1", labelTopologyCluster: "Kubernetes", labelHostname: "node-a",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("topologyLabels (-want +got):\n%s", d)
	}
}
