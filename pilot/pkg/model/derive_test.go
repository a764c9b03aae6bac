package model_test

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	securityv1beta1 "istio.io/api/security/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/cluster"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/endpoint"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/generate"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/listener"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/route"
	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/host"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
	"github.com/sextant-mesh/sextant/tests/golden"
)

// TestDeriveEqualsFullBuild applies random sequences of deletes, re-adds and edits to the
// inputs of corpus cases and checks, after every step, that the PushContext derived from
// the previous one generates exactly what a full rebuild generates.
func TestDeriveEqualsFullBuild(t *testing.T) {
	cases := []string{
		"04-serviceentry-static-workloadentry", "09-vs-delegate-exportto-gateways", "12-dr-tls-portlevel-subset-exportto",
		"14-sidecar-workload-ingress-registry-only", "18-peerauthn-namespace-workload-portlevel",
		"24-multins-exportto-sidecar-visibility", "29-rootdr-nsdr-dnsrr-registryonly",
		"03-serviceentry-external-dns-wildcard", "28-k8s-externalname-tlsmode-unready", "30-eds-locality-health",
		"15-envoyfilter-lua-cluster-merge", "35-envoyfilter-network-http-listener-filters",
		"36-envoyfilter-route-vhost-http-route-ops", "38-envoyfilter-selection-priority-version",
		"11-dr-lb-connpool-outlier", "17-peerauthn-mesh-strict", "37-envoyfilter-cluster-ops",
		"40-envoyfilter-gateway-clusters", "10-vs-tcp-tls-routes",
	}
	for _, name := range cases {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("../../../tests/compat/cases", name)
			l, err := generate.Load(generate.CaseRequest(dir))
			if err != nil {
				t.Fatal(err)
			}
			// The store behind l.Push is not exposed; rebuild one from the same inputs.
			store, objects := storeOf(t, dir)
			rng := rand.New(rand.NewPCG(1, uint64(len(name))))
			pc := model.NewPushContext(store, l.Push.Mesh, l.Push.Options)
			prevOut, prevProxy := renderProxy(t, pc, l.Spec)
			removed := map[config.Key]*config.Config{}
			// One cluster cache lives through the whole sequence, as in the server.
			cache, routes, endpoints := cluster.NewCache(), route.NewCache(), endpoint.NewCache()
			// As on a connection: route and cluster builds start from the last ones when
			// they can.
			memo := model.NewMemo()
			for step := 0; step < 60; step++ {
				key, what := mutate(rng, store, objects, removed, step)
				// The previous context's SidecarScopes were computed by the last render:
				// the derived one carries those the change cannot alter.
				prevPC := pc
				pc = pc.Derive(store, map[config.Key]struct{}{key: {}})
				full := model.NewPushContext(store, pc.Mesh, pc.Options)
				want := render(t, full, l.Spec)
				got, p := renderProxy(t, pc, l.Spec)
				if !bytes.Equal(want, got.all) {
					t.Fatalf("step %d (%s %s): derived output differs from a full build", step, what, key)
				}
				// Scoped pushes: a proxy whose config changed must be pushed; an
				// endpoint-only change must leave everything but endpoints as it was.
				if !bytes.Equal(prevOut.all, got.all) && pc.PushFor(prevProxy, true) != model.FullPush {
					t.Fatalf("step %d (%s %s): the proxy's config changed but PushFor(full) is not a full push", step, what, key)
				}
				if key.Kind == schema.VirtualService && model.SameScopeServices(prevProxy.SidecarScope, p.SidecarScope) &&
					!bytes.Equal(prevOut.clusters, got.clusters) {
					t.Fatalf("step %d (%s %s): a VirtualService change kept the scope's services but changed clusters", step, what, key)
				}
				if pc.HTTPRouteChangesOnly() && model.SameScopeServices(prevProxy.SidecarScope, p.SidecarScope) &&
					!bytes.Equal(prevOut.listeners, got.listeners) {
					t.Fatalf("step %d (%s %s): an HTTP-only VirtualService change kept the scope's services but changed listeners", step, what, key)
				}
				if pc.DestinationRulesSpareRoutes(prevProxy.SidecarScope, p.SidecarScope) &&
					(!bytes.Equal(prevOut.listeners, got.listeners) || !bytes.Equal(prevOut.routes, got.routes)) {
					t.Fatalf("step %d (%s %s): DestinationRulesSpareRoutes but listeners or routes changed", step, what, key)
				}
				if hosts, only := pc.EndpointHosts(); only {
					switch pc.PushFor(prevProxy, false) {
					case model.NoPush:
						if !bytes.Equal(prevOut.all, got.all) {
							t.Fatalf("step %d (%s %s): endpoints changed (%v) but PushFor(eds) is no push", step, what, key, hosts)
						}
					case model.EndpointsPush:
						if !bytes.Equal(prevOut.noEndpoints, got.noEndpoints) {
							t.Fatalf("step %d (%s %s): an endpoint push (%v) but more than endpoints changed", step, what, key, hosts)
						}
					}
				}
				if hosts, ok := pc.DestinationRuleHosts(); ok {
					if err := endpointsOutsideDiffer(prevPC, prevProxy, pc, p, hosts); err != nil {
						t.Fatalf("step %d (%s %s): a DestinationRule push limited to %v: %v", step, what, key, hosts, err)
					}
				}
				if err := cachedClustersDiffer(cache, pc, p, memo); err != nil {
					t.Fatalf("step %d (%s %s): %v", step, what, key, err)
				}
				if err := cachedRoutesDiffer(routes, pc, p, memo); err != nil {
					t.Fatalf("step %d (%s %s): %v", step, what, key, err)
				}
				if err := cachedEndpointsDiffer(endpoints, pc, p); err != nil {
					t.Fatalf("step %d (%s %s): %v", step, what, key, err)
				}
				prevOut, prevProxy = got, p
				if fmt.Sprint(full.Errors) != fmt.Sprint(pc.Errors) {
					t.Fatalf("step %d (%s %s): errors %v, full build %v", step, what, key, pc.Errors, full.Errors)
				}
			}
			if kept, _ := cache.Kept(); kept == 0 {
				t.Error("no cluster build kept a service's clusters from the last one: the comparisons above did not test that path")
			}
		})
	}
}

func storeOf(t *testing.T, dir string) (*model.Store, map[config.Key]*config.Config) {
	res, err := loadConfigs(dir)
	if err != nil {
		t.Fatal(err)
	}
	store := model.NewStore()
	objects := map[config.Key]*config.Config{}
	for _, c := range res {
		store.Set(c)
		objects[c.Key()] = c
	}
	return store, objects
}

// mutate deletes a present object, re-adds a deleted one, or edits one (a new label),
// and returns the key it changed.
func mutate(rng *rand.Rand, store *model.Store, objects, removed map[config.Key]*config.Config, step int) (config.Key, string) {
	present := slices.SortedFunc(maps.Keys(objects), func(a, b config.Key) int { return cmpKey(a, b) })
	gone := slices.SortedFunc(maps.Keys(removed), func(a, b config.Key) int { return cmpKey(a, b) })
	switch op := rng.IntN(3); {
	case op == 0 && len(gone) > 0:
		k := gone[rng.IntN(len(gone))]
		store.Set(removed[k])
		objects[k] = removed[k]
		delete(removed, k)
		return k, "re-add"
	case op == 1 && len(present) > 1:
		k := present[rng.IntN(len(present))]
		store.Delete(k)
		removed[k] = objects[k]
		delete(objects, k)
		return k, "delete"
	default:
		k := present[rng.IntN(len(present))]
		c := *objects[k]
		c.Labels = maps.Clone(c.Labels)
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		c.Labels["sextant.test/step"] = fmt.Sprint(step)
		if se, ok := c.Spec.(*networkingv1alpha3.ServiceEntry); ok && len(se.GetEndpoints()) > 0 && rng.IntN(2) == 0 {
			// An endpoint-only edit: same labels, one endpoint moved.
			c.Labels = objects[k].Labels
			se = proto.Clone(se).(*networkingv1alpha3.ServiceEntry)
			se.Endpoints[0].Address = fmt.Sprintf("127.9.%d.%d", step/250, step%250+1)
			c.Spec = se
		}
		if se, ok := c.Spec.(*networkingv1alpha3.ServiceEntry); ok && len(se.GetEndpoints()) > 0 && rng.IntN(3) == 0 {
			// Another identity behind the service: clusters' SANs change.
			se = proto.Clone(se).(*networkingv1alpha3.ServiceEntry)
			se.Endpoints[0].ServiceAccount = fmt.Sprintf("sa-%d", step)
			c.Spec = se
		}
		if dr, ok := c.Spec.(*networkingv1alpha3.DestinationRule); ok {
			// A new connection limit, sometimes TLS settings: the rule's clusters change.
			dr = proto.Clone(dr).(*networkingv1alpha3.DestinationRule)
			if dr.TrafficPolicy == nil {
				dr.TrafficPolicy = &networkingv1alpha3.TrafficPolicy{}
			}
			dr.TrafficPolicy.ConnectionPool = &networkingv1alpha3.ConnectionPoolSettings{
				Tcp: &networkingv1alpha3.ConnectionPoolSettings_TCPSettings{MaxConnections: int32(step + 1)},
			}
			// Sometimes what routes and listeners read too: consistent hashing, an idle
			// timeout.
			if rng.IntN(3) == 0 {
				dr.TrafficPolicy.LoadBalancer = &networkingv1alpha3.LoadBalancerSettings{LbPolicy: &networkingv1alpha3.LoadBalancerSettings_ConsistentHash{
					ConsistentHash: &networkingv1alpha3.LoadBalancerSettings_ConsistentHashLB{
						HashKey: &networkingv1alpha3.LoadBalancerSettings_ConsistentHashLB_HttpHeaderName{HttpHeaderName: fmt.Sprintf("x-step-%d", step)},
					}}}
			}
			if rng.IntN(3) == 0 {
				dr.TrafficPolicy.ConnectionPool.Tcp.IdleTimeout = durationpb.New(time.Duration(step+1) * time.Second)
			}
			if rng.IntN(2) == 0 {
				dr.TrafficPolicy.Tls = &networkingv1alpha3.ClientTLSSettings{Mode: networkingv1alpha3.ClientTLSSettings_DISABLE}
			}
			c.Spec = dr
		}
		if pa, ok := c.Spec.(*securityv1beta1.PeerAuthentication); ok {
			// Flip the mode: auto mTLS of the clusters to its workloads changes.
			pa = proto.Clone(pa).(*securityv1beta1.PeerAuthentication)
			mode := securityv1beta1.PeerAuthentication_MutualTLS_DISABLE
			if pa.GetMtls().GetMode() == mode {
				mode = securityv1beta1.PeerAuthentication_MutualTLS_STRICT
			}
			pa.Mtls = &securityv1beta1.PeerAuthentication_MutualTLS{Mode: mode}
			c.Spec = pa
		}
		if ef, ok := c.Spec.(*networkingv1alpha3.EnvoyFilter); ok {
			// Reorder EnvoyFilters: a new priority changes which patch applies last.
			ef = proto.Clone(ef).(*networkingv1alpha3.EnvoyFilter)
			ef.Priority = int32(rng.IntN(3) - 1)
			c.Spec = ef
		}
		if obj, ok := c.Spec.(runtime.Object); ok {
			// Kubernetes objects carry their own metadata: edit that, and sometimes move a
			// pod to another version (subset membership) or a node to another zone.
			cp := obj.DeepCopyObject()
			m := cp.(metav1.Object)
			l := maps.Clone(m.GetLabels())
			if l == nil {
				l = map[string]string{}
			}
			l["sextant.test/step"] = fmt.Sprint(step)
			if rng.IntN(2) == 0 {
				if _, ok := l["version"]; ok {
					l["version"] = "v9"
				}
				if _, ok := l["topology.kubernetes.io/zone"]; ok {
					l["topology.kubernetes.io/zone"] = "elsewhere-1z"
				}
			}
			m.SetLabels(l)
			c.Spec = cp
		}
		store.Set(&c)
		objects[k] = &c
		return k, "edit"
	}
}

// cachedClustersDiffer compares the proxy's clusters drawn from the cache, with the
// connection's memo of its last build, with the ones built afresh, encoding by encoding.
func cachedClustersDiffer(cache *cluster.Cache, pc *model.PushContext, p *model.Proxy, memo *model.Memo) error {
	q := *p
	q.Memo = memo
	if err := golden.SameEncodings(cache.Build(pc, &q), cluster.BuildClusters(pc, p)); err != nil {
		return fmt.Errorf("cluster cache: %w", err)
	}
	return nil
}

// endpointsOutsideDiffer compares the endpoints of every cluster outside hosts before and
// after a change: a push limited to hosts must not leave any of them stale.
func endpointsOutsideDiffer(prevPC *model.PushContext, prev *model.Proxy, pc *model.PushContext, p *model.Proxy, hosts map[host.Name]bool) error {
	var names []string
	for _, cs := range [][]*clusterv3.Cluster{cluster.BuildClusters(prevPC, prev), cluster.BuildClusters(pc, p)} {
		for _, c := range cs {
			if i := strings.LastIndexByte(c.GetName(), '|'); i >= 0 && !hosts[host.Name(c.GetName()[i+1:])] {
				names = append(names, c.GetName())
			}
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	before, after := endpoint.BuildEndpoints(prevPC, prev, names), endpoint.BuildEndpoints(pc, p, names)
	for i := range names {
		a, _ := proto.MarshalOptions{Deterministic: true}.Marshal(before[i])
		b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(after[i])
		if !bytes.Equal(a, b) {
			return fmt.Errorf("the endpoints of %s changed", names[i])
		}
	}
	return nil
}

// cachedRoutesDiffer compares the proxy's route configurations assembled by the cache with
// the ones built afresh, encoding by encoding, for every route name its listeners use.
func cachedRoutesDiffer(cache *route.Cache, pc *model.PushContext, p *model.Proxy, memo *model.Memo) error {
	names := generate.RouteNames(listener.BuildListeners(pc, p))
	q := *p
	q.Memo = memo
	if err := golden.SameEncodings(cache.Build(pc, &q, names), route.BuildRoutes(pc, p, names)); err != nil {
		return fmt.Errorf("route cache: %w", err)
	}
	return nil
}

// cachedEndpointsDiffer compares the proxy's load assignments drawn from the cache with
// the ones built afresh, encoding by encoding, for every EDS cluster it has.
func cachedEndpointsDiffer(cache *endpoint.Cache, pc *model.PushContext, p *model.Proxy) error {
	names := generate.EDSClusterNames(cluster.BuildClusters(pc, p))
	if err := golden.SameAssignments(cache.Build(pc, p, names), endpoint.BuildEndpoints(pc, p, names)); err != nil {
		return fmt.Errorf("endpoint cache: %w", err)
	}
	return nil
}

func cmpKey(a, b config.Key) int {
	if x, y := a.String(), b.String(); x != y {
		if x < y {
			return -1
		}
		return 1
	}
	return 0
}

// rendered is a proxy's generated config, whole and without endpoints.
type rendered struct{ all, noEndpoints, clusters, listeners, routes []byte }

func renderProxy(t *testing.T, pc *model.PushContext, spec *generate.ProxySpec) (rendered, *model.Proxy) {
	t.Helper()
	p, err := spec.Proxy()
	if err != nil {
		t.Fatal(err)
	}
	pc.InitProxy(p)
	out := generate.ForProxy(pc, p, spec.Listeners)
	all, err := out.JSON()
	if err != nil {
		t.Fatal(err)
	}
	listeners, err := (&generate.Output{Listeners: out.Listeners}).JSON()
	if err != nil {
		t.Fatal(err)
	}
	routes, err := (&generate.Output{Routes: out.Routes}).JSON()
	if err != nil {
		t.Fatal(err)
	}
	out.Endpoints = nil
	noEndpoints, err := out.JSON()
	if err != nil {
		t.Fatal(err)
	}
	out.Listeners, out.Routes = nil, nil
	clusters, err := out.JSON()
	if err != nil {
		t.Fatal(err)
	}
	return rendered{all, noEndpoints, clusters, listeners, routes}, p
}

func render(t *testing.T, pc *model.PushContext, spec *generate.ProxySpec) []byte {
	t.Helper()
	p, err := spec.Proxy()
	if err != nil {
		t.Fatal(err)
	}
	pc.InitProxy(p)
	b, err := generate.ForProxy(pc, p, spec.Listeners).JSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
