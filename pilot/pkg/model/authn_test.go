package model

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	securityv1beta1 "istio.io/api/security/v1beta1"
	typev1beta1 "istio.io/api/type/v1beta1"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/mesh"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

func peerAuthn(ns, name string, age int, selector map[string]string, mode securityv1beta1.PeerAuthentication_MutualTLS_Mode,
	ports map[uint32]securityv1beta1.PeerAuthentication_MutualTLS_Mode,
) *config.Config {
	spec := &securityv1beta1.PeerAuthentication{}
	if mode != securityv1beta1.PeerAuthentication_MutualTLS_UNSET {
		spec.Mtls = &securityv1beta1.PeerAuthentication_MutualTLS{Mode: mode}
	}
	if selector != nil {
		spec.Selector = &typev1beta1.WorkloadSelector{MatchLabels: selector}
	}
	for p, m := range ports {
		if spec.PortLevelMtls == nil {
			spec.PortLevelMtls = map[uint32]*securityv1beta1.PeerAuthentication_MutualTLS{}
		}
		spec.PortLevelMtls[p] = &securityv1beta1.PeerAuthentication_MutualTLS{Mode: m}
	}
	return &config.Config{
		Meta: config.Meta{
			Kind: schema.PeerAuthentication, Namespace: ns, Name: name,
			CreationTimestamp: time.Unix(int64(1000-age), 0),
		},
		Spec: spec,
	}
}

func TestPeerAuthentication(t *testing.T) {
	const (
		unset      = securityv1beta1.PeerAuthentication_MutualTLS_UNSET
		disable    = securityv1beta1.PeerAuthentication_MutualTLS_DISABLE
		permissive = securityv1beta1.PeerAuthentication_MutualTLS_PERMISSIVE
		strict     = securityv1beta1.PeerAuthentication_MutualTLS_STRICT
	)
	app := map[string]string{"app": "orders"}
	cases := []struct {
		name     string
		policies []*config.Config
		ns       string
		want     PeerAuthnPolicy
	}{
		{name: "no policy is permissive", ns: "backend", want: PeerAuthnPolicy{Mode: MTLSPermissive}},
		{
			name:     "mesh strict",
			policies: []*config.Config{peerAuthn("istio-system", "default", 0, nil, strict, nil)},
			ns:       "backend", want: PeerAuthnPolicy{Mode: MTLSStrict},
		},
		{
			name: "namespace overrides mesh, unset namespace inherits",
			policies: []*config.Config{
				peerAuthn("istio-system", "default", 0, nil, strict, nil),
				peerAuthn("backend", "default", 0, nil, disable, nil),
				peerAuthn("frontend", "default", 0, nil, unset, nil),
			},
			ns: "backend", want: PeerAuthnPolicy{Mode: MTLSDisable},
		},
		{
			name: "oldest namespace policy wins",
			policies: []*config.Config{
				peerAuthn("backend", "newer", 1, nil, strict, nil),
				peerAuthn("backend", "older", 5, nil, disable, nil),
			},
			ns: "backend", want: PeerAuthnPolicy{Mode: MTLSDisable},
		},
		{
			name: "workload policy with port levels; unset port inherits the workload mode",
			policies: []*config.Config{
				peerAuthn("istio-system", "default", 0, nil, permissive, nil),
				peerAuthn("backend", "default", 0, nil, disable, nil),
				peerAuthn("backend", "orders", 0, app, strict, map[uint32]securityv1beta1.PeerAuthentication_MutualTLS_Mode{
					9091: disable, 8081: permissive, 7070: unset,
				}),
			},
			ns: "backend",
			want: PeerAuthnPolicy{Mode: MTLSStrict, PerPort: map[uint32]MutualTLSMode{
				9091: MTLSDisable, 8081: MTLSPermissive, 7070: MTLSStrict,
			}},
		},
		{
			name: "workload policy not selecting the workload, or in the root namespace, is ignored",
			policies: []*config.Config{
				peerAuthn("backend", "other", 0, map[string]string{"app": "other"}, disable, nil),
				peerAuthn("istio-system", "orders", 0, app, disable, nil),
			},
			ns: "backend", want: PeerAuthnPolicy{Mode: MTLSPermissive},
		},
		{
			name:     "unset workload mode inherits the namespace",
			policies: []*config.Config{peerAuthn("backend", "default", 0, nil, strict, nil), peerAuthn("backend", "orders", 0, app, unset, nil)},
			ns:       "backend", want: PeerAuthnPolicy{Mode: MTLSStrict},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store := NewStore()
			for _, c := range tc.policies {
				store.Set(c)
			}
			pc := NewPushContext(store, mesh.Default(), DefaultOptions())
			got := pc.PeerAuthentication(tc.ns, app)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("PeerAuthentication (-want +got):\n%s", diff)
			}
			for port, mode := range tc.want.PerPort {
				if m := pc.InboundMTLSMode(tc.ns, app, int(port)); m != mode {
					t.Errorf("InboundMTLSMode(%d) = %v, want %v", port, m, mode)
				}
			}
		})
	}
}
