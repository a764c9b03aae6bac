package route

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
)

func TestAltHostnames(t *testing.T) {
	tests := []struct {
		name, hostname, proxyDomain string
		port                        int
		want                        []string
	}{
		{
			name: "same namespace", hostname: "reviews.default.svc.cluster.local", proxyDomain: "default.svc.cluster.local",
			want: []string{"reviews.default.svc.cluster.local.", "reviews", "reviews.default.svc", "reviews.default"},
		},
		{
			name: "other namespace", hostname: "reviews.team.svc.cluster.local", proxyDomain: "default.svc.cluster.local",
			want: []string{"reviews.team.svc.cluster.local.", "reviews.team", "reviews.team.svc"},
		},
		{
			name: "with port", hostname: "reviews.team.svc.cluster.local", proxyDomain: "default.svc.cluster.local", port: 9080,
			want: []string{
				"reviews.team.svc.cluster.local.", "reviews.team.svc.cluster.local.:9080",
				"reviews.team", "reviews.team:9080", "reviews.team.svc", "reviews.team.svc:9080",
			},
		},
		{
			name: "not a Kubernetes service", hostname: "httpbin.org", proxyDomain: "default.svc.cluster.local",
			want: []string{"httpbin.org."},
		},
		{
			name: "IP address", hostname: "10.0.0.1", proxyDomain: "default.svc.cluster.local",
		},
		{
			name: "shared non-Kubernetes domain", hostname: "foo.local.campus.net", proxyDomain: "local.campus.net",
			want: []string{"foo.local.campus.net.", "foo"},
		},
		{
			name: "two unique labels", hostname: "foo.bar.campus.net", proxyDomain: "local.campus.net",
			want: []string{"foo.bar.campus.net.", "foo.bar", "foo.bar.campus"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := cmp.Diff(tt.want, altHostnames(tt.hostname, tt.port, tt.proxyDomain)); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestServiceDomains(t *testing.T) {
	sidecar := &model.Proxy{Type: model.SidecarProxy, IPAddresses: []string{"10.244.0.5"}, DNSDomain: "shop.svc.cluster.local"}
	grpc := &model.Proxy{Type: model.SidecarProxy, IPAddresses: []string{"10.244.0.5"}, DNSDomain: "shop.svc.cluster.local",
		Metadata: &model.NodeMetadata{Generator: "grpc"}}
	tests := []struct {
		name  string
		svc   *model.Service
		proxy *model.Proxy
		want  []string
	}{
		{
			name: "cluster IPs of the proxy's family",
			svc: &model.Service{Hostname: "web.shop.svc.cluster.local", Registry: model.Kubernetes,
				DefaultAddress: "10.96.0.1", Addresses: []string{"10.96.0.1", "fd00::1"}},
			proxy: sidecar,
			want:  []string{"web.shop.svc.cluster.local", "web.shop.svc.cluster.local.", "web", "web.shop.svc", "web.shop", "10.96.0.1"},
		},
		{
			name:  "headless",
			svc:   &model.Service{Hostname: "db.shop.svc.cluster.local", Registry: model.Kubernetes, Resolution: model.Passthrough, DefaultAddress: "0.0.0.0"},
			proxy: sidecar,
			want: []string{
				"db.shop.svc.cluster.local", "db.shop.svc.cluster.local.", "db", "db.shop.svc", "db.shop",
				"*.db.shop.svc.cluster.local", "*.db.shop.svc.cluster.local.", "*.db", "*.db.shop.svc", "*.db.shop",
			},
		},
		{
			name: "aliases",
			svc: &model.Service{Hostname: "api.example.com", Registry: model.External, DefaultAddress: "0.0.0.0",
				Aliases: []model.NamespacedHostname{{Hostname: "api.shop.svc.cluster.local", Namespace: "shop"}}},
			proxy: sidecar,
			want:  []string{"api.example.com", "api.example.com.", "api.shop.svc.cluster.local", "api.shop.svc.cluster.local.", "api", "api.shop.svc", "api.shop"},
		},
		{
			name:  "proxyless gRPC keeps ports",
			svc:   &model.Service{Hostname: "web.other.svc.cluster.local", Registry: model.Kubernetes, DefaultAddress: "10.96.0.2"},
			proxy: grpc,
			want: []string{
				"web.other.svc.cluster.local", "web.other.svc.cluster.local:80", "web.other.svc.cluster.local.", "web.other.svc.cluster.local.:80",
				"web.other", "web.other:80", "web.other.svc", "web.other.svc:80", "10.96.0.2", "10.96.0.2:80",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := domainsFor(tt.svc, 80, 80, domainContextOf(tt.proxy))
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestParseRouteName(t *testing.T) {
	tests := []struct {
		name          string
		port          int
		sniffed, isOK bool
	}{
		{"9080", 9080, false, true},
		{"reviews.default.svc.cluster.local:9080", 9080, true, true},
		{"http_proxy", 0, false, true},
		{"unix:///var/run/app.sock", 0, false, true},
		{"http.8080", 0, false, false},
		{"outbound|9080||reviews.default.svc.cluster.local", 0, false, false},
	}
	for _, tt := range tests {
		port, sniffed, ok := parseRouteName(tt.name)
		if port != tt.port || sniffed != tt.sniffed || ok != tt.isOK {
			t.Errorf("parseRouteName(%q) = %d, %v, %v; want %d, %v, %v", tt.name, port, sniffed, ok, tt.port, tt.sniffed, tt.isOK)
		}
	}
}

// TestDomainClass checks that proxies whose DNS domains have the same class for a
// hostname get the same domains for it (the route cache shares them by class), and that
// classes tell apart the proxies that get different ones.
func TestDomainClass(t *testing.T) {
	hostnames := []string{
		"reviews.shop.svc.cluster.local", "reviews.team.svc.cluster.local", "httpbin.org",
		"foo.local.campus.net", "10.0.0.1", "a.b.svc.cluster.local", "svc.cluster.local", "x.svc.cluster.local",
	}
	proxyDomains := []string{
		"shop.svc.cluster.local", "team.svc.cluster.local", "other.svc.cluster.local", "b.svc.cluster.local",
		"shop.svc.example.org", "local.campus.net", "campus.net",
	}
	classes := map[string]bool{}
	for _, h := range hostnames {
		for _, port := range []int{noPort, 8080} {
			for _, d1 := range proxyDomains {
				for _, d2 := range proxyDomains {
					c1, c2 := domainClass(h, d1), domainClass(h, d2)
					classes[c1] = true
					same := cmp.Equal(altHostnames(h, port, d1), altHostnames(h, port, d2))
					if c1 == c2 && !same {
						t.Errorf("%s (port %d): %s and %s share class %q but get different names", h, port, d1, d2, c1)
					}
				}
			}
		}
	}
	if !classes[".svc.cluster.local"] || !classes["shop.svc.cluster.local"] {
		t.Errorf("classes %v: the cases do not cover a shared and a namespace class", classes)
	}
}
