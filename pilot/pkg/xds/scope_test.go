package xds

import (
	"slices"
	"time"

	"testing"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/host"
	"github.com/sextant-mesh/sextant/pkg/config/mesh"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

func service(ns, name, ip string) *config.Config {
	return &config.Config{Meta: config.Meta{Kind: schema.Service, Namespace: ns, Name: name}, Spec: &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{ClusterIP: ip, Ports: []corev1.ServicePort{{Name: "http", Port: 80}}},
	}}
}

// connectionFor builds a connection for a proxy in ns, initialised against store.
func connectionFor(t *testing.T, store *model.Store, ns string) (*Connection, *model.PushContext) {
	t.Helper()
	pc := model.NewPushContext(store, mesh.Default(), model.DefaultOptions())
	p, err := model.ParseServiceNode("sidecar~10.0.0.1~app-0."+ns+"~"+ns+".svc.cluster.local", &model.NodeMetadata{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	c := newConnection("c", "", false, time.Time{})
	c.proxyRef = p
	c.refreshProxy(pc)
	return c, pc
}

func virtualService(ns, name, host string) *config.Config {
	return &config.Config{Meta: config.Meta{Kind: schema.VirtualService, Namespace: ns, Name: name},
		Spec: &networkingv1alpha3.VirtualService{Hosts: []string{host}, Http: []*networkingv1alpha3.HTTPRoute{{
			Route: []*networkingv1alpha3.HTTPRouteDestination{{Destination: &networkingv1alpha3.Destination{Host: host}}},
		}}}}
}

func destinationRule(ns, name, host string) *config.Config {
	return &config.Config{Meta: config.Meta{Kind: schema.DestinationRule, Namespace: ns, Name: name},
		Spec: &networkingv1alpha3.DestinationRule{Host: host}}
}

// TestPushesAreScopedToWhatAProxyImports applies one change at a time to a mesh of two
// proxies - one whose Sidecar imports only its namespace, one importing everything - and
// checks what the derived PushContext says each must be pushed.
func TestPushesAreScopedToWhatAProxyImports(t *testing.T) {
	key := func(k config.Kind, ns, name string) config.Key { return config.Key{Kind: k, Namespace: ns, Name: name} }
	tests := []struct {
		name string
		full bool
		// change edits the store and returns the changed key.
		change         func(*model.Store) config.Key
		scoped, opened model.PushKind
	}{
		{"service in the scoped proxy's namespace", true, func(s *model.Store) config.Key {
			s.Set(service("team-a", "web", "10.96.0.9"))
			return key(schema.Service, "team-a", "web")
		}, model.FullPush, model.FullPush},
		{"service in a namespace it does not import", true, func(s *model.Store) config.Key {
			s.Set(service("team-b", "api", "10.96.0.9"))
			return key(schema.Service, "team-b", "api")
		}, model.NoPush, model.FullPush},
		{"new service in a namespace it does not import", true, func(s *model.Store) config.Key {
			s.Set(service("team-b", "new", "10.96.0.10"))
			return key(schema.Service, "team-b", "new")
		}, model.NoPush, model.FullPush},
		{"endpoints it does not import", false, func(s *model.Store) config.Key {
			return key(schema.EndpointSlice, "team-b", "api-x1")
		}, model.NoPush, model.NoPush},
		{"its own Sidecar", true, func(s *model.Store) config.Key {
			s.Delete(key(schema.Sidecar, "team-a", "default"))
			return key(schema.Sidecar, "team-a", "default")
		}, model.FullPush, model.NoPush},
		{"another namespace's Sidecar", true, func(s *model.Store) config.Key {
			s.Set(sidecar("team-b"))
			return key(schema.Sidecar, "team-b", "default")
		}, model.NoPush, model.NoPush},
		{"a VirtualService for a host it imports", true, func(s *model.Store) config.Key {
			s.Set(virtualService("team-a", "vs", "web.team-a.svc.cluster.local"))
			return key(schema.VirtualService, "team-a", "vs")
		}, model.FullPush, model.FullPush},
		{"a VirtualService for a host it does not import", true, func(s *model.Store) config.Key {
			s.Set(virtualService("team-b", "vs", "api.team-b.svc.cluster.local"))
			return key(schema.VirtualService, "team-b", "vs")
		}, model.NoPush, model.FullPush},
		{"a DestinationRule for a host it does not import", true, func(s *model.Store) config.Key {
			s.Set(destinationRule("team-b", "dr", "api.team-b.svc.cluster.local"))
			return key(schema.DestinationRule, "team-b", "dr")
		}, model.NoPush, model.FullPush},
		{"a DestinationRule in its namespace", true, func(s *model.Store) config.Key {
			s.Set(destinationRule("team-a", "dr", "api.team-b.svc.cluster.local"))
			return key(schema.DestinationRule, "team-a", "dr")
		}, model.FullPush, model.FullPush},
		{"a kind no index reads", true, func(s *model.Store) config.Key {
			return key(schema.AuthorizationPolicy, "team-a", "deny")
		}, model.NoPush, model.NoPush},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := model.NewStore()
			store.Set(service("team-a", "web", "10.96.0.1"))
			store.Set(service("team-b", "api", "10.96.0.2"))
			store.Set(sidecar("team-a")) // team-a imports only its own namespace
			scoped, pc := connectionFor(t, store, "team-a")
			open, _ := connectionFor(t, store, "team-c") // no Sidecar: imports everything
			// Both connections were initialised against their own contexts; derive from
			// one that has computed their scopes, as the server does.
			scoped.refreshProxy(pc)
			open.refreshProxy(pc)

			k := tt.change(store)
			req := &model.PushRequest{Full: tt.full, Push: pc.Derive(store, map[config.Key]struct{}{k: {}}),
				ConfigsUpdated: map[config.Key]struct{}{k: {}}}
			if got := pushFor(scoped, req); got != tt.scoped {
				t.Errorf("scoped proxy: push %v, want %v", got, tt.scoped)
			}
			if got := pushFor(open, req); got != tt.opened {
				t.Errorf("unscoped proxy: push %v, want %v", got, tt.opened)
			}
		})
	}
	t.Run("everything (no keys)", func(t *testing.T) {
		store := model.NewStore()
		c, pc := connectionFor(t, store, "team-a")
		if got := pushFor(c, &model.PushRequest{Full: true, Push: pc}); got != model.FullPush {
			t.Errorf("push %v, want a full push", got)
		}
	})
}

func sidecar(ns string) *config.Config {
	return &config.Config{Meta: config.Meta{Kind: schema.Sidecar, Namespace: ns, Name: "default"},
		Spec: &networkingv1alpha3.Sidecar{Egress: []*networkingv1alpha3.IstioEgressListener{{Hosts: []string{"./*"}}}}}
}

func TestEndpointPushesNameOnlyChangedClusters(t *testing.T) {
	names := []string{
		"outbound|80||web.team-a.svc.cluster.local",
		"outbound|80|v1|web.team-a.svc.cluster.local",
		"outbound|80||api.team-b.svc.cluster.local",
		"outbound|9080||web.team-a.svc.cluster.local.other",
	}
	got := endpointSubset(names, map[host.Name]bool{"web.team-a.svc.cluster.local": true})
	want := []string{"outbound|80||web.team-a.svc.cluster.local", "outbound|80|v1|web.team-a.svc.cluster.local"}
	if !slices.Equal(got, want) {
		t.Errorf("subset = %v, want %v", got, want)
	}
	if got := endpointSubset(names, map[host.Name]bool{"other": true}); len(got) != 0 {
		t.Errorf("subset = %v, want none", got)
	}
	got = endpointSubset(names, map[host.Name]bool{"web.team-a.svc.cluster.local": true, "api.team-b.svc.cluster.local": true})
	if want := append(want[:2:2], "outbound|80||api.team-b.svc.cluster.local"); !slices.Equal(got, want) {
		t.Errorf("subset of two hosts = %v, want %v", got, want)
	}
	if got := endpointSubset([]string{"cluster.local", "|x", "x", "a|bx"}, map[host.Name]bool{"x": true}); !slices.Equal(got, []string{"|x"}) {
		t.Errorf("subset of bare names = %v", got)
	}
}

func TestVirtualServiceChangesDoNotRegenerateEndpoints(t *testing.T) {
	c := newConnection("c", "", false, time.Time{})
	for _, typ := range []string{ClusterType, EndpointType, ListenerType, RouteType} {
		c.watched[typ] = &Watched{TypeURL: typ}
	}
	key := func(k config.Kind) map[config.Key]struct{} {
		return map[config.Key]struct{}{{Kind: k, Namespace: "a", Name: "x"}: {}}
	}
	tests := []struct {
		name string
		req  *model.PushRequest
		want []string
	}{
		{"VirtualService", &model.PushRequest{Full: true, ConfigsUpdated: key(schema.VirtualService)}, []string{ClusterType, ListenerType, RouteType}},
		{"DestinationRule", &model.PushRequest{Full: true, ConfigsUpdated: key(schema.DestinationRule)}, []string{ClusterType, EndpointType, ListenerType, RouteType}},
		{"everything", &model.PushRequest{Full: true}, []string{ClusterType, EndpointType, ListenerType, RouteType}},
		{"endpoints", &model.PushRequest{ConfigsUpdated: key(schema.EndpointSlice)}, []string{EndpointType}},
	}
	for _, tt := range tests {
		got := c.typesToPush(tt.req)
		slices.Sort(got)
		want := slices.Sorted(slices.Values(tt.want))
		if !slices.Equal(got, want) {
			t.Errorf("%s: types %v, want %v", tt.name, got, want)
		}
	}
}
