package cluster_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/cluster"
	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/mesh"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
	"github.com/sextant-mesh/sextant/tests/golden"
)

// TestBuildDeltaFollowsRandomChanges follows one connection through random sequences of
// changes, applying each BuildDelta to what a Delta client holds as Envoy does (changed
// clusters replace or add, removed names go). After every change the client must hold
// exactly a fresh build's clusters, byte for byte. The changes reach what a delta must
// get right: DestinationRule edits (content, subsets that add and remove cluster names,
// wildcard hosts), services added and removed (the scope's order shifts), STATIC and DNS
// services built per proxy, and EnvoyFilters adding clusters, with a name of their own
// or one an outbound cluster has (the first wins, so the delta must give way).
func TestBuildDeltaFollowsRandomChanges(t *testing.T) {
	deltas, fulls := 0, 0
	var sentDelta, sentFull int
	for seed := uint64(1); seed <= 40; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		m := newDeltaMesh()
		c := cluster.NewCache()
		memo := model.NewMemo()
		held := map[string][]byte{}
		for step := 0; step < 30; step++ {
			what := m.change(rng)
			p := sidecarIn(t, m.pc, "a", "10.0.0.1", map[string]string{"app": "web"})
			p.Memo = memo
			rs, removed, delta := c.BuildDelta(m.pc, p)
			if delta {
				deltas++
				sentDelta += len(rs)
				for _, n := range removed {
					if _, ok := held[n]; !ok {
						t.Fatalf("seed %d step %d (%s): removed %s, which the client does not hold", seed, step, what, n)
					}
					delete(held, n)
				}
			} else {
				fulls++
				sentFull += len(rs)
				if len(removed) > 0 {
					t.Fatalf("seed %d step %d (%s): a full build removed %v", seed, step, what, removed)
				}
				clear(held)
			}
			for _, r := range rs {
				b, err := r.Encoding()
				if err != nil {
					t.Fatal(err)
				}
				held[r.Name] = b
			}
			if err := sameClusters(held, cluster.BuildClusters(m.pc, p)); err != nil {
				t.Fatalf("seed %d step %d (%s, delta %v): %v", seed, step, what, delta, err)
			}
		}
	}
	t.Logf("%d delta builds (%.1f clusters each), %d full (%.1f)", deltas, float64(sentDelta)/float64(deltas), fulls, float64(sentFull)/float64(fulls))
	// Both paths must have been taken, and a delta must send less than everything.
	if deltas < 200 || fulls < 40 {
		t.Errorf("%d delta and %d full builds: the changes do not exercise both", deltas, fulls)
	}
	if avgDelta, avgFull := float64(sentDelta)/float64(deltas), float64(sentFull)/float64(fulls); avgDelta*2 > avgFull {
		t.Errorf("deltas returned %.1f clusters on average, full builds %.1f", avgDelta, avgFull)
	}
}

// sameClusters compares what a client holds with a fresh build.
func sameClusters[T interface {
	GetName() string
	proto.Message
}](held map[string][]byte, want []T) error {
	if len(held) != len(want) {
		names := make([]string, 0, len(held))
		for n := range held {
			names = append(names, n)
		}
		return fmt.Errorf("the client holds %d clusters (%v), a fresh build has %d", len(held), names, len(want))
	}
	for _, w := range want {
		wb, err := proto.MarshalOptions{Deterministic: true}.Marshal(w)
		if err != nil {
			return err
		}
		if !golden.SameEncoding(held[w.GetName()], wb, w) {
			return fmt.Errorf("cluster %s differs from a fresh build's (held: %v)", w.GetName(), held[w.GetName()] != nil)
		}
	}
	return nil
}

// deltaMesh is a small mesh the test changes at random.
type deltaMesh struct {
	store *model.Store
	pc    *model.PushContext
}

var (
	deltaNamespaces = []string{"a", "b", "c"}
	deltaServices   = []string{"s0", "s1", "s2", "s3", "s4", "s5"}
)

func newDeltaMesh() *deltaMesh {
	m := &deltaMesh{store: model.NewStore()}
	for i, name := range deltaServices[:4] {
		m.store.Set(kubeService(deltaNamespaces[i%3], name, fmt.Sprintf("10.96.0.%d", i+1)))
	}
	m.store.Set(externalEntry("dns", networkingv1alpha3.ServiceEntry_DNS, "10.1.0.1"))
	m.store.Set(externalEntry("static", networkingv1alpha3.ServiceEntry_STATIC, "10.2.0.1"))
	m.pc = model.NewPushContext(m.store, mesh.Default(), model.DefaultOptions())
	return m
}

// change applies one random change and derives the next PushContext; it says what.
func (m *deltaMesh) change(rng *rand.Rand) string {
	var what string
	var keys []config.Key
	set := func(c *config.Config) {
		m.store.Set(c)
		keys = append(keys, c.Key())
	}
	del := func(k config.Key) {
		m.store.Delete(k)
		keys = append(keys, k)
	}
	ns := deltaNamespaces[rng.IntN(len(deltaNamespaces))]
	name := deltaServices[rng.IntN(len(deltaServices))]
	hostname := name + "." + ns + ".svc.cluster.local"
	switch rng.IntN(12) {
	case 0, 1, 2:
		what = "rule for " + hostname
		r := rule(ns, name, hostname, int32(1+rng.IntN(3)))
		r.Spec.(*networkingv1alpha3.DestinationRule).Subsets = subsets(rng.IntN(3))
		set(r)
	case 3:
		what = "wildcard rule in " + ns
		r := rule(ns, "wild", "*."+ns+".svc.cluster.local", int32(1+rng.IntN(3)))
		r.Spec.(*networkingv1alpha3.DestinationRule).Subsets = subsets(rng.IntN(2))
		set(r)
	case 4:
		what = "rules of " + ns + " deleted"
		del(config.Key{Kind: schema.DestinationRule, Namespace: ns, Name: name})
		del(config.Key{Kind: schema.DestinationRule, Namespace: ns, Name: "wild"})
	case 5:
		what = "service " + hostname + " added"
		set(kubeService(ns, name, fmt.Sprintf("10.96.%d.%d", 1+rng.IntN(3), 1+rng.IntN(200))))
	case 6:
		what = "service " + hostname + " deleted"
		del(config.Key{Kind: schema.Service, Namespace: ns, Name: name})
	case 7:
		what = "static endpoints"
		set(externalEntry("static", networkingv1alpha3.ServiceEntry_STATIC, fmt.Sprintf("10.2.0.%d", 1+rng.IntN(3))))
	case 8:
		// An added cluster with a name of its own, or an outbound cluster's, or none.
		added := []string{"", "extra", "outbound|80||s0.a.svc.cluster.local", "outbound|80||s1.b.svc.cluster.local"}[rng.IntN(4)]
		what = "EnvoyFilter adding " + added
		if added == "" {
			del(config.Key{Kind: schema.EnvoyFilter, Namespace: "istio-system", Name: "add"})
		} else {
			set(addClusterFilter(added))
		}
	case 9:
		// Mesh-wide, or the proxy's own: its clusters are patched for it alone.
		what = "connect timeout filter"
		switch rng.IntN(3) {
		case 0:
			set(timeoutFilter("istio-system", "timeout", fmt.Sprintf("%ds", 1+rng.IntN(3)), nil))
		case 1:
			set(timeoutFilter("a", "timeout", fmt.Sprintf("%ds", 4+rng.IntN(3)), map[string]string{"app": "web"}))
		default:
			del(config.Key{Kind: schema.EnvoyFilter, Namespace: "istio-system", Name: "timeout"})
			del(config.Key{Kind: schema.EnvoyFilter, Namespace: "a", Name: "timeout"})
		}
	case 10:
		// The proxy's namespace importing its own services only, and what its
		// VirtualServices route to.
		what = "Sidecar"
		if rng.IntN(2) == 0 {
			set(&config.Config{Meta: config.Meta{Kind: schema.Sidecar, Namespace: "a", Name: "own"},
				Spec: &networkingv1alpha3.Sidecar{Egress: []*networkingv1alpha3.IstioEgressListener{{Hosts: []string{"./*"}}}}})
		} else {
			del(config.Key{Kind: schema.Sidecar, Namespace: "a", Name: "own"})
		}
	case 11:
		// A VirtualService imports its destinations (after the other services): deleting
		// it or routing elsewhere drops the scope's last services.
		what = "VirtualService to " + hostname
		if rng.IntN(3) == 0 {
			del(config.Key{Kind: schema.VirtualService, Namespace: "a", Name: "route"})
			break
		}
		set(&config.Config{Meta: config.Meta{Kind: schema.VirtualService, Namespace: "a", Name: "route"},
			Spec: &networkingv1alpha3.VirtualService{Hosts: []string{"front.a.svc.cluster.local"},
				Http: []*networkingv1alpha3.HTTPRoute{{Route: []*networkingv1alpha3.HTTPRouteDestination{
					{Destination: &networkingv1alpha3.Destination{Host: hostname}}}}}}})
	}
	changed := map[config.Key]struct{}{}
	for _, k := range keys {
		changed[k] = struct{}{}
	}
	m.pc = m.pc.Derive(m.store, changed)
	return what
}

func subsets(n int) []*networkingv1alpha3.Subset {
	var out []*networkingv1alpha3.Subset
	for i := range n {
		v := fmt.Sprintf("v%d", i+1)
		out = append(out, &networkingv1alpha3.Subset{Name: v, Labels: map[string]string{"version": v}})
	}
	return out
}

// externalEntry is a MESH_EXTERNAL ServiceEntry resolved by DNS or STATIC: its clusters
// are built per proxy, not shared.
func externalEntry(name string, res networkingv1alpha3.ServiceEntry_Resolution, addr string) *config.Config {
	return &config.Config{
		Meta: config.Meta{Kind: schema.ServiceEntry, Namespace: "c", Name: name},
		Spec: &networkingv1alpha3.ServiceEntry{
			Hosts:      []string{name + ".example.com"},
			Ports:      []*networkingv1alpha3.ServicePort{{Number: 443, Name: "tls", Protocol: "TLS"}},
			Location:   networkingv1alpha3.ServiceEntry_MESH_EXTERNAL,
			Resolution: res,
			Endpoints:  []*networkingv1alpha3.WorkloadEntry{{Address: addr}},
		},
	}
}

// addClusterFilter is a mesh-wide EnvoyFilter adding a STATIC cluster with name.
func addClusterFilter(name string) *config.Config {
	v, _ := structpb.NewStruct(map[string]any{"name": name, "type": "STATIC", "connect_timeout": "1s"})
	ef := &networkingv1alpha3.EnvoyFilter{ConfigPatches: []*networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch{{
		ApplyTo: networkingv1alpha3.EnvoyFilter_CLUSTER,
		Match:   &networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectMatch{Context: networkingv1alpha3.EnvoyFilter_SIDECAR_OUTBOUND},
		Patch:   &networkingv1alpha3.EnvoyFilter_Patch{Operation: networkingv1alpha3.EnvoyFilter_Patch_ADD, Value: v},
	}}}
	return &config.Config{Meta: config.Meta{Kind: schema.EnvoyFilter, Namespace: "istio-system", Name: "add"}, Spec: ef}
}

// TestBuildDeltaKeepsClustersPatchedForTheProxyAlone checks that a delta keeps, without
// holding them, the clusters the proxy's own EnvoyFilter patched for it alone: after a
// rule edit only the rule's service is built again, where a whole build patches every
// service again (the first change after a proxy connects once did).
func TestBuildDeltaKeepsClustersPatchedForTheProxyAlone(t *testing.T) {
	store := model.NewStore()
	for i, name := range []string{"web", "api", "db", "cache"} {
		store.Set(kubeService("team", name, fmt.Sprintf("10.96.0.%d", i+1)))
	}
	store.Set(timeoutFilter("team", "web-timeout", "7s", map[string]string{"app": "web"}))
	store.Set(rule("team", "api", "api.team.svc.cluster.local", 10))
	pc := model.NewPushContext(store, mesh.Default(), model.DefaultOptions())
	c := cluster.NewCache()
	memo := model.NewMemo()
	build := func(delta bool) (rs []cluster.Resource, kept, built int64) {
		t.Helper()
		p := sidecarIn(t, pc, "team", "10.0.0.1", map[string]string{"app": "web"})
		p.Memo = memo
		k0, b0 := c.Kept()
		if delta {
			var ok bool
			if rs, _, ok = c.BuildDelta(pc, p); !ok {
				t.Fatal("no delta")
			}
		} else {
			rs = c.Build(pc, p)
		}
		k, b := c.Kept()
		return rs, k - k0, b - b0
	}
	build(false)
	r := rule("team", "api", "api.team.svc.cluster.local", 5)
	store.Set(r)
	pc = pc.Derive(store, map[config.Key]struct{}{r.Key(): {}})
	rs, kept, built := build(true)
	if kept != 3 || built != 1 {
		t.Errorf("a delta after a rule edit kept %d services and built %d, want 3 and 1", kept, built)
	}
	for _, x := range rs {
		if strings.HasPrefix(x.Name, "outbound|") && !strings.HasSuffix(x.Name, "|api.team.svc.cluster.local") {
			t.Errorf("the delta returned %s", x.Name)
		}
	}
	if _, kept, _ = build(false); kept != 0 {
		t.Errorf("a whole build kept %d services patched for the proxy alone", kept)
	}
}
