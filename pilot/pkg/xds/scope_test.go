package xds

import (
	"time"

	"testing"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pkg/config"
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

func changed(pc *model.PushContext, full bool, keys ...config.Key) *model.PushRequest {
	r := &model.PushRequest{Full: full, Push: pc, ConfigsUpdated: map[config.Key]struct{}{}}
	for _, k := range keys {
		r.ConfigsUpdated[k] = struct{}{}
	}
	return r
}

func TestPushesAreScopedToWhatAProxyImports(t *testing.T) {
	store := model.NewStore()
	store.Set(service("team-a", "web", "10.96.0.1"))
	store.Set(service("team-b", "api", "10.96.0.2"))
	// team-a imports only its own namespace.
	store.Set(&config.Config{Meta: config.Meta{Kind: schema.Sidecar, Namespace: "team-a", Name: "default"},
		Spec: &networkingv1alpha3.Sidecar{Egress: []*networkingv1alpha3.IstioEgressListener{{Hosts: []string{"./*"}}}}})
	scoped, pc := connectionFor(t, store, "team-a")
	open, _ := connectionFor(t, store, "team-c") // no Sidecar: imports everything

	key := func(k config.Kind, ns, name string) config.Key { return config.Key{Kind: k, Namespace: ns, Name: name} }
	tests := []struct {
		name           string
		req            *model.PushRequest
		scoped, opened bool
	}{
		{"service in the scoped proxy's namespace", changed(pc, true, key(schema.Service, "team-a", "web")), true, true},
		{"service in a namespace it does not import", changed(pc, true, key(schema.Service, "team-b", "api")), false, true},
		{"endpoints it does not import", changed(pc, false, key(schema.EndpointSlice, "team-b", "api-x1")), false, true},
		{"its own Sidecar", changed(pc, true, key(schema.Sidecar, "team-a", "default")), true, false},
		{"another namespace's Sidecar", changed(pc, true, key(schema.Sidecar, "team-b", "default")), false, false},
		{"a VirtualService anywhere (not yet scoped)", changed(pc, true, key(schema.VirtualService, "team-b", "vs")), true, true},
		{"everything (no keys)", &model.PushRequest{Full: true, Push: pc}, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := affects(scoped, tt.req); got != tt.scoped {
				t.Errorf("scoped proxy pushed = %v, want %v", got, tt.scoped)
			}
			if got := affects(open, tt.req); got != tt.opened {
				t.Errorf("unscoped proxy pushed = %v, want %v", got, tt.opened)
			}
		})
	}
}
