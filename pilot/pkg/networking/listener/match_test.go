package listener

import (
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
)

func TestInboundMatchOptions(t *testing.T) {
	cases := []struct {
		mode     model.MutualTLSMode
		protocol chainProtocol
		// want lists each chain as transport, then "mtls" when it terminates mTLS.
		want []string
	}{
		{model.MTLSPermissive, chainAuto, []string{"tls mtls", "raw_buffer", "tls mtls", "raw_buffer", "tls"}},
		{model.MTLSPermissive, chainHTTP, []string{"tls mtls", "raw_buffer"}},
		{model.MTLSPermissive, chainTCP, []string{"tls mtls", "tls", "raw_buffer"}},
		{model.MTLSStrict, chainAuto, []string{"tls mtls", "tls mtls"}},
		{model.MTLSStrict, chainHTTP, []string{"tls mtls"}},
		{model.MTLSStrict, chainTCP, []string{"tls mtls"}},
		{model.MTLSDisable, chainAuto, []string{"raw_buffer", "raw_buffer"}},
		{model.MTLSDisable, chainHTTP, []string{"raw_buffer"}},
		{model.MTLSUnknown, chainTCP, []string{"raw_buffer"}},
	}
	for _, tc := range cases {
		t.Run(tc.mode.String(), func(t *testing.T) {
			var got []string
			for _, o := range inboundMatchOptions(tc.mode, tc.protocol) {
				s := o.transport
				if o.tls {
					s += " mtls"
				}
				got = append(got, s)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%v/%v (-want +got):\n%s", tc.mode, tc.protocol, diff)
			}
		})
	}
}

func TestChainMatch(t *testing.T) {
	cases := []struct {
		name  string
		chain chainOpts
		want  string // protojson of the match; "" for match-all
	}{
		{name: "match all", chain: chainOpts{}, want: ""},
		{name: "wildcard SNI matches all", chain: chainOpts{sniHosts: []string{"*"}}, want: ""},
		{name: "SNI sorted", chain: chainOpts{sniHosts: []string{"b.com", "a.com"}}, want: `{"serverNames":["a.com","b.com"]}`},
		{
			name:  "CIDRs sorted, unspecified dropped",
			chain: chainOpts{cidrs: []string{"10.2.0.0/16", "0.0.0.0/0", "10.1.0.1"}},
			want:  `{"prefixRanges":[{"addressPrefix":"10.1.0.1","prefixLen":32},{"addressPrefix":"10.2.0.0","prefixLen":16}]}`,
		},
		{
			name:  "HTTP detection",
			chain: chainOpts{alpn: plaintextHTTPALPNs, transport: transportRawBuffer},
			want:  `{"transportProtocol":"raw_buffer","applicationProtocols":["http/1.1","h2c"]}`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.chain.match()
			got := ""
			if m != nil {
				got = protojson.MarshalOptions{}.Format(m)
			}
			if normalize(t, got) != normalize(t, tc.want) {
				t.Errorf("match = %s, want %s", got, tc.want)
			}
		})
	}
}

// normalize reformats JSON so spacing does not matter.
func normalize(t *testing.T, js string) string {
	t.Helper()
	if js == "" {
		return ""
	}
	m := &listenerv3.FilterChainMatch{}
	if err := protojson.Unmarshal([]byte(js), m); err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return protojson.MarshalOptions{}.Format(m)
}

func TestChainConflicts(t *testing.T) {
	cases := []struct {
		name string
		a, b chainOpts
		want bool
	}{
		{"both match all", chainOpts{}, chainOpts{}, true},
		{"SNI order and wildcard ignored", chainOpts{sniHosts: []string{"a", "b", "*"}}, chainOpts{sniHosts: []string{"b", "a"}}, true},
		{"different SNI", chainOpts{sniHosts: []string{"a"}}, chainOpts{sniHosts: []string{"b"}}, false},
		{"overlapping CIDRs with the same prefix", chainOpts{cidrs: []string{"1.2.3.4/8"}}, chainOpts{cidrs: []string{"1.5.6.7/8"}}, true},
		{"different transport", chainOpts{transport: transportTLS}, chainOpts{}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.a.conflictsWith(&tc.b); got != tc.want {
				t.Errorf("conflictsWith = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestInspectors(t *testing.T) {
	chain := func(port uint32, transport string, alpn ...string) *listenerv3.FilterChain {
		m := &listenerv3.FilterChainMatch{TransportProtocol: transport, ApplicationProtocols: alpn}
		if port != 0 {
			m.DestinationPort = wrapperspb.UInt32(port)
		}
		return &listenerv3.FilterChain{FilterChainMatch: m}
	}
	cases := []struct {
		name             string
		chains           []*listenerv3.FilterChain
		wantTLS, wantHTT string // protojson of filter_disabled; "none" when the filter is absent
	}{
		{
			name: "permissive: TLS off on the blackhole port, HTTP off on HTTP and blackhole ports",
			chains: []*listenerv3.FilterChain{
				chain(15006, ""), chain(0, transportTLS), chain(0, transportRawBuffer, "http/1.1", "h2c"),
				chain(9080, transportTLS), chain(9080, transportRawBuffer),
			},
			wantTLS: `{"destinationPortRange":{"start":15006,"end":15007}}`,
			wantHTT: `{"orMatch":{"rules":[{"destinationPortRange":{"start":9080,"end":9081}},{"destinationPortRange":{"start":15006,"end":15007}}]}}`,
		},
		{
			name:    "TLS only on some ports: enabled only there",
			chains:  []*listenerv3.FilterChain{chain(0, transportRawBuffer), chain(9443, transportTLS)},
			wantTLS: `{"notMatch":{"destinationPortRange":{"start":9443,"end":9444}}}`,
			wantHTT: "none",
		},
		{
			name:    "no TLS, no HTTP",
			chains:  []*listenerv3.FilterChain{chain(0, transportRawBuffer)},
			wantTLS: "none", wantHTT: "none",
		},
		{
			name:    "enabled everywhere",
			chains:  []*listenerv3.FilterChain{chain(0, transportTLS, "http/1.1")},
			wantTLS: "", wantHTT: "",
		},
	}
	render := func(f *listenerv3.ListenerFilter) string {
		if f == nil {
			return "none"
		}
		if f.GetFilterDisabled() == nil {
			return ""
		}
		return protojson.MarshalOptions{}.Format(f.GetFilterDisabled())
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			needs := needsOf(tc.chains)
			if got, want := render(tlsInspectorFor(needs)), compact(t, tc.wantTLS); got != want {
				t.Errorf("tls_inspector filter_disabled = %s, want %s", got, want)
			}
			if got, want := render(httpInspectorFor(needs)), compact(t, tc.wantHTT); got != want {
				t.Errorf("http_inspector filter_disabled = %s, want %s", got, want)
			}
		})
	}
}

// compact reformats a predicate's JSON as protojson prints it.
func compact(t *testing.T, js string) string {
	t.Helper()
	if js == "" || js == "none" {
		return js
	}
	p := &listenerv3.ListenerFilterChainMatchPredicate{}
	if err := protojson.Unmarshal([]byte(js), p); err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return protojson.MarshalOptions{}.Format(p)
}
