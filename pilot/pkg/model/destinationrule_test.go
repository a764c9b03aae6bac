package model_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	securityv1beta1 "istio.io/api/security/v1beta1"
	typev1beta1 "istio.io/api/type/v1beta1"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/mesh"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

// dr describes one DestinationRule of a lookup scenario; rules are created in list order.
type dr struct {
	ns, name, host string
	exportTo       []string
	subsets        []string
	selector       map[string]string
	// lb, when set, gives the rule a top-level traffic policy with this simple LB.
	lb networkingv1alpha3.LoadBalancerSettings_SimpleLB
}

func (d dr) config(created time.Time) *config.Config {
	spec := &networkingv1alpha3.DestinationRule{Host: d.host, ExportTo: d.exportTo}
	for _, s := range d.subsets {
		spec.Subsets = append(spec.Subsets, &networkingv1alpha3.Subset{Name: s, Labels: map[string]string{"version": s}})
	}
	if d.selector != nil {
		spec.WorkloadSelector = &typev1beta1.WorkloadSelector{MatchLabels: d.selector}
	}
	if d.lb != 0 {
		spec.TrafficPolicy = &networkingv1alpha3.TrafficPolicy{LoadBalancer: &networkingv1alpha3.LoadBalancerSettings{
			LbPolicy: &networkingv1alpha3.LoadBalancerSettings_Simple{Simple: d.lb},
		}}
	}
	return &config.Config{
		Meta: config.Meta{Kind: schema.DestinationRule, Namespace: d.ns, Name: d.name, CreationTimestamp: created},
		Spec: spec,
	}
}

func TestOutboundDestinationRule(t *testing.T) {
	const reviews = "reviews.backend.svc.cluster.local"
	random, roundRobin := networkingv1alpha3.LoadBalancerSettings_RANDOM, networkingv1alpha3.LoadBalancerSettings_ROUND_ROBIN
	cases := []struct {
		name    string
		rules   []dr
		proxyNS string
		labels  map[string]string
		// want is the names the effective rule was merged from (nil: no rule), subsets its
		// subsets and lb its load balancer.
		want    []string
		subsets []string
		lb      networkingv1alpha3.LoadBalancerSettings_SimpleLB
	}{
		{
			name:    "proxy namespace before service namespace before root",
			rules:   []dr{{ns: "istio-system", name: "root", host: "*.local"}, {ns: "backend", name: "svc", host: reviews}, {ns: "frontend", name: "local", host: "reviews.backend.svc.cluster.local"}},
			proxyNS: "frontend",
			want:    []string{"local"},
		},
		{
			name:    "service namespace before root",
			rules:   []dr{{ns: "istio-system", name: "root", host: "*.local"}, {ns: "backend", name: "svc", host: reviews}},
			proxyNS: "frontend",
			want:    []string{"svc"},
		},
		{
			name:    "root namespace wildcard as last resort",
			rules:   []dr{{ns: "istio-system", name: "root", host: "*.local"}, {ns: "other", name: "elsewhere", host: reviews}},
			proxyNS: "frontend",
			want:    []string{"root"},
		},
		{
			name:    "short host resolved in the rule's namespace",
			rules:   []dr{{ns: "backend", name: "short", host: "reviews"}},
			proxyNS: "frontend",
			want:    []string{"short"},
		},
		{
			name:    "private rule of another namespace is invisible",
			rules:   []dr{{ns: "backend", name: "private", host: reviews, exportTo: []string{"."}}},
			proxyNS: "frontend",
		},
		{
			name:    "rule exported to the proxy namespace",
			rules:   []dr{{ns: "backend", name: "other", host: reviews, exportTo: []string{"team-x"}}, {ns: "backend", name: "ours", host: reviews, exportTo: []string{"frontend"}}},
			proxyNS: "frontend",
			want:    []string{"ours"},
		},
		{
			name:    "most specific host wins",
			rules:   []dr{{ns: "backend", name: "wide", host: "*.svc.cluster.local"}, {ns: "backend", name: "narrow", host: "*.backend.svc.cluster.local"}},
			proxyNS: "backend",
			want:    []string{"narrow"},
		},
		{
			name: "same host rules merge: subsets appended, first traffic policy kept",
			rules: []dr{
				{ns: "backend", name: "a", host: reviews, subsets: []string{"v1"}},
				{ns: "backend", name: "b", host: reviews, subsets: []string{"v1", "v2"}, lb: random},
				{ns: "backend", name: "c", host: reviews, lb: roundRobin},
			},
			proxyNS: "frontend",
			want:    []string{"a", "b", "c"},
			subsets: []string{"v1", "v2"},
			lb:      random,
		},
		{
			name: "rules with different exportTo stay apart; the last catch-all wins",
			rules: []dr{
				{ns: "backend", name: "public", host: reviews, subsets: []string{"v1"}},
				{ns: "backend", name: "to-frontend", host: reviews, exportTo: []string{"frontend"}, subsets: []string{"v2"}},
			},
			proxyNS: "frontend",
			want:    []string{"to-frontend"},
			subsets: []string{"v2"},
		},
		{
			name: "workload selector rule for the selected proxy",
			rules: []dr{
				{ns: "frontend", name: "all", host: reviews},
				{ns: "frontend", name: "web-only", host: reviews, selector: map[string]string{"app": "web"}},
			},
			proxyNS: "frontend",
			labels:  map[string]string{"app": "web"},
			want:    []string{"web-only"},
		},
		{
			name: "workload selector rule ignored for other proxies",
			rules: []dr{
				{ns: "frontend", name: "all", host: reviews},
				{ns: "frontend", name: "web-only", host: reviews, selector: map[string]string{"app": "web"}},
			},
			proxyNS: "frontend",
			labels:  map[string]string{"app": "api"},
			want:    []string{"all"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store := model.NewStore()
			base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
			for i, r := range tc.rules {
				store.Set(r.config(base.Add(time.Duration(i) * time.Minute)))
			}
			pc := model.NewPushContext(store, mesh.Default(), model.DefaultOptions())
			p := &model.Proxy{ConfigNamespace: tc.proxyNS, Labels: tc.labels}
			svc := &model.Service{Hostname: reviews, Namespace: "backend"}
			got := pc.OutboundDestinationRule(p, svc)
			var from, subsets []string
			if got != nil {
				for _, k := range got.From {
					from = append(from, k.Name)
				}
			}
			for _, s := range got.Spec().GetSubsets() {
				subsets = append(subsets, s.GetName())
			}
			if d := cmp.Diff(tc.want, from); d != "" {
				t.Errorf("rule merged from (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tc.subsets, subsets); d != "" {
				t.Errorf("subsets (-want +got):\n%s", d)
			}
			if lb := got.Spec().GetTrafficPolicy().GetLoadBalancer().GetSimple(); lb != tc.lb {
				t.Errorf("load balancer = %v, want %v", lb, tc.lb)
			}
			if got != nil && got.Spec().GetHost() != reviews && got.Spec().GetHost()[0] != '*' {
				t.Errorf("host %q not fully qualified", got.Spec().GetHost())
			}
		})
	}
}

func TestServiceMTLSMode(t *testing.T) {
	pa := func(ns, name string, mode securityv1beta1.PeerAuthentication_MutualTLS_Mode) *config.Config {
		return &config.Config{
			Meta: config.Meta{Kind: schema.PeerAuthentication, Namespace: ns, Name: name},
			Spec: &securityv1beta1.PeerAuthentication{Mtls: &securityv1beta1.PeerAuthentication_MutualTLS{Mode: mode}},
		}
	}
	strict, disable, unset := securityv1beta1.PeerAuthentication_MutualTLS_STRICT, securityv1beta1.PeerAuthentication_MutualTLS_DISABLE,
		securityv1beta1.PeerAuthentication_MutualTLS_UNSET
	cases := []struct {
		name     string
		policies []*config.Config
		svc      *model.Service
		want     model.MutualTLSMode
	}{
		{"no policy is permissive", nil, &model.Service{Namespace: "backend"}, model.MTLSPermissive},
		{"mesh strict", []*config.Config{pa("istio-system", "default", strict)}, &model.Service{Namespace: "backend"}, model.MTLSStrict},
		{"namespace overrides mesh", []*config.Config{pa("istio-system", "default", strict), pa("backend", "ns", disable)},
			&model.Service{Namespace: "backend"}, model.MTLSDisable},
		{"unset namespace inherits mesh", []*config.Config{pa("istio-system", "default", strict), pa("backend", "ns", unset)},
			&model.Service{Namespace: "backend"}, model.MTLSStrict},
		{"external services are unknown", []*config.Config{pa("istio-system", "default", strict)},
			&model.Service{Namespace: "backend", MeshExternal: true}, model.MTLSUnknown},
		{"passthrough without endpoints is disabled", nil,
			&model.Service{Namespace: "backend", Resolution: model.Passthrough, Ports: []*model.Port{{Port: 80}}}, model.MTLSDisable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store := model.NewStore()
			for _, c := range tc.policies {
				store.Set(c)
			}
			pc := model.NewPushContext(store, mesh.Default(), model.DefaultOptions())
			if got := pc.ServiceMTLSMode(tc.svc, 80, false); got != tc.want {
				t.Errorf("ServiceMTLSMode = %v, want %v", got, tc.want)
			}
		})
	}
}
