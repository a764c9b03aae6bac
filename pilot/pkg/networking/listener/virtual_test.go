package listener

import (
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"github.com/google/go-cmp/cmp"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
)

func listenerNames(ls []*listenerv3.Listener) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.GetName())
	}
	return out
}

func listenerFilterNames(l *listenerv3.Listener) []string {
	var out []string
	for _, f := range l.GetListenerFilters() {
		out = append(out, f.GetName())
	}
	return out
}

func TestInterceptionModes(t *testing.T) {
	cases := []struct {
		mode            string
		wantListeners   []string
		wantTransparent bool
		wantInboundLF   []string
	}{
		{
			mode:          "",
			wantListeners: []string{VirtualOutboundListenerName, VirtualInboundListenerName},
			wantInboundLF: []string{"envoy.filters.listener.original_dst", "envoy.filters.listener.tls_inspector", "envoy.filters.listener.http_inspector"},
		},
		{
			mode:            "TPROXY",
			wantListeners:   []string{VirtualOutboundListenerName, VirtualInboundListenerName},
			wantTransparent: true,
			wantInboundLF: []string{
				"envoy.filters.listener.original_dst", "envoy.filters.listener.original_src",
				"envoy.filters.listener.tls_inspector", "envoy.filters.listener.http_inspector",
			},
		},
		{mode: "NONE"},
	}
	for _, tc := range cases {
		t.Run(tc.mode, func(t *testing.T) {
			b := testBuilder(t, &model.NodeMetadata{InterceptionMode: tc.mode})
			got := BuildListeners(b.pc, b.proxy)
			if diff := cmp.Diff(tc.wantListeners, listenerNames(got)); diff != "" {
				t.Fatalf("listeners (-want +got):\n%s", diff)
			}
			for _, l := range got {
				if l.GetTransparent().GetValue() != tc.wantTransparent {
					t.Errorf("%s transparent = %v, want %v", l.GetName(), l.GetTransparent().GetValue(), tc.wantTransparent)
				}
				if l.GetName() == VirtualInboundListenerName {
					if diff := cmp.Diff(tc.wantInboundLF, listenerFilterNames(l)); diff != "" {
						t.Errorf("inbound listener filters (-want +got):\n%s", diff)
					}
				}
			}
		})
	}
}

func TestHTTPProxyListener(t *testing.T) {
	b := testBuilder(t, nil)
	b.mesh.ProxyHttpPort = 15080
	l := b.httpProxyListener()
	if l.GetName() != "127.0.0.1_15080" || l.GetBindToPort() != nil || len(l.GetFilterChains()) != 1 {
		t.Fatalf("http proxy listener = %v", l)
	}
	if l.GetDefaultFilterChain() != nil {
		t.Errorf("want the HTTP chain alone, not as default chain")
	}
}
