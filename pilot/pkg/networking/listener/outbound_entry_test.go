package listener

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pkg/config/host"
	"github.com/sextant-mesh/sextant/pkg/config/mesh"
	"github.com/sextant-mesh/sextant/pkg/config/protocol"
)

// testBuilder is a builder for a sidecar in namespace default of an empty mesh.
func testBuilder(t *testing.T, md *model.NodeMetadata) *builder {
	t.Helper()
	pc := model.NewPushContext(model.NewStore(), mesh.Default(), model.DefaultOptions())
	if md == nil {
		md = &model.NodeMetadata{}
	}
	md.Namespace = "default"
	p, err := model.ParseServiceNode("sidecar~10.0.0.1~client.default~default.svc.cluster.local", md)
	if err != nil {
		t.Fatal(err)
	}
	pc.InitProxy(p)
	return newBuilder(pc, p)
}

// svc is a service with one port; an empty address means none (0.0.0.0).
func svc(name, addr string, port int, p protocol.Instance) *model.Service {
	if addr == "" {
		addr = "0.0.0.0"
	}
	return &model.Service{
		Hostname: host.Name(name), Name: name, Namespace: "default", Registry: model.External,
		DefaultAddress: addr, Resolution: model.DNSLB,
		Ports: []*model.Port{{Name: "p", Port: port, Protocol: p}},
	}
}

// chainKinds summarises an entry's chains: "http" or "tcp", with their SNI names.
func chainKinds(e *outboundEntry) []string {
	var out []string
	for _, c := range e.chains {
		k := "tcp"
		if c.http != nil {
			k = "http"
		}
		for _, s := range c.sniHosts {
			k += " " + s
		}
		out = append(out, k)
	}
	return out
}

func TestAddOutboundConflicts(t *testing.T) {
	type add struct {
		svc    *model.Service
		bind   string
		locked bool // lock existing entries first, as the catch-all egress listener does
	}
	cases := []struct {
		name         string
		adds         []add
		wantKey      listenerKey
		wantProtocol protocol.Instance
		wantChains   []string
	}{
		{
			name:    "HTTP on the wildcard is sniffed",
			adds:    []add{{svc: svc("a.com", "", 8080, protocol.HTTP)}},
			wantKey: listenerKey{"0.0.0.0", 8080}, wantProtocol: protocol.Unsupported, wantChains: []string{"http"},
		},
		{
			name:    "second HTTP service shares the listener",
			adds:    []add{{svc: svc("a.com", "", 8080, protocol.HTTP)}, {svc: svc("b.com", "", 8080, protocol.HTTP)}},
			wantKey: listenerKey{"0.0.0.0", 8080}, wantProtocol: protocol.Unsupported, wantChains: []string{"http"},
		},
		{
			name:    "TCP over sniffed HTTP merges",
			adds:    []add{{svc: svc("a.com", "", 8080, protocol.HTTP)}, {svc: svc("b.com", "", 8080, protocol.TCP)}},
			wantKey: listenerKey{"0.0.0.0", 8080}, wantProtocol: protocol.Unsupported, wantChains: []string{"http", "tcp"},
		},
		{
			name:    "HTTP over TCP merges",
			adds:    []add{{svc: svc("b.com", "", 8080, protocol.TCP)}, {svc: svc("a.com", "", 8080, protocol.HTTP)}},
			wantKey: listenerKey{"0.0.0.0", 8080}, wantProtocol: protocol.Unsupported, wantChains: []string{"tcp", "http"},
		},
		{
			name:    "MySQL never shares a port",
			adds:    []add{{svc: svc("db.com", "", 3306, protocol.MySQL)}, {svc: svc("a.com", "", 3306, protocol.HTTP)}},
			wantKey: listenerKey{"0.0.0.0", 3306}, wantProtocol: protocol.MySQL, wantChains: []string{"tcp"},
		},
		{
			name:    "TLS services without VIP merge by SNI",
			adds:    []add{{svc: svc("a.com", "", 443, protocol.TLS)}, {svc: svc("b.com", "", 443, protocol.HTTPS)}},
			wantKey: listenerKey{"0.0.0.0", 443}, wantProtocol: protocol.TLS, wantChains: []string{"tcp a.com", "tcp b.com"},
		},
		{
			name:    "TCP with a VIP listens on it, without SNI",
			adds:    []add{{svc: svc("a.com", "10.1.1.1", 443, protocol.TLS)}},
			wantKey: listenerKey{"10.1.1.1", 443}, wantProtocol: protocol.TLS, wantChains: []string{"tcp"},
		},
		{
			name:    "a locked entry takes nothing more",
			adds:    []add{{svc: svc("b.com", "", 8080, protocol.TCP)}, {svc: svc("a.com", "", 8080, protocol.HTTP), locked: true}},
			wantKey: listenerKey{"0.0.0.0", 8080}, wantProtocol: protocol.TCP, wantChains: []string{"tcp"},
		},
		{
			name:    "detected protocol adds nothing to sniffed HTTP",
			adds:    []add{{svc: svc("a.com", "", 8080, protocol.HTTP)}, {svc: svc("b.com", "", 8080, protocol.Unsupported)}},
			wantKey: listenerKey{"0.0.0.0", 8080}, wantProtocol: protocol.Unsupported, wantChains: []string{"http"},
		},
		{
			name: "detected protocol replaces plain HTTP on a bind address",
			adds: []add{
				{svc: svc("a.com", "", 8080, protocol.HTTP), bind: "127.0.0.2"},
				{svc: svc("b.com", "", 8080, protocol.Unsupported), bind: "127.0.0.2"},
			},
			wantKey: listenerKey{"127.0.0.2", 8080}, wantProtocol: protocol.Unsupported, wantChains: []string{"tcp", "http"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := testBuilder(t, nil)
			entries := map[listenerKey]*outboundEntry{}
			for _, a := range tc.adds {
				if a.locked {
					for _, e := range entries {
						e.locked = true
					}
				}
				o := outboundOpts{port: a.svc.Ports[0], service: a.svc}
				if a.bind != "" {
					o.bind.addrs = []string{a.bind}
				}
				b.addOutbound(o, entries, nil)
			}
			e := entries[tc.wantKey]
			if e == nil || len(entries) != 1 {
				t.Fatalf("entries = %v, want only %v", entries, tc.wantKey)
			}
			if e.protocol != tc.wantProtocol {
				t.Errorf("protocol = %v, want %v", e.protocol, tc.wantProtocol)
			}
			if diff := cmp.Diff(tc.wantChains, chainKinds(e)); diff != "" {
				t.Errorf("chains (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOutboundListenerDefaultChain(t *testing.T) {
	b := testBuilder(t, nil)
	entries := map[listenerKey]*outboundEntry{}
	http, tcp := svc("a.com", "", 8080, protocol.HTTP), svc("b.com", "", 8080, protocol.TCP)
	b.addOutbound(outboundOpts{port: http.Ports[0], service: http}, entries, nil)
	b.addOutbound(outboundOpts{port: tcp.Ports[0], service: tcp}, entries, nil)
	l := b.outboundListener(entries[listenerKey{"0.0.0.0", 8080}])
	if n := len(l.GetFilterChains()); n != 1 {
		t.Fatalf("filter chains = %d, want the HTTP chain only", n)
	}
	if got := l.GetDefaultFilterChain().GetFilters()[0].GetName(); got != tcpProxyName {
		t.Errorf("default chain filter = %q, want the TCP service's tcp_proxy", got)
	}
	if l.GetDefaultFilterChain().GetName() == passthroughFilterChain {
		t.Errorf("default chain is the passthrough chain, want the TCP service's")
	}
}
