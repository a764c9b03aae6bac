package route

import (
	"encoding/json"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pkg/config"
)

// compact parses JSON into generic values, so protojson output compares regardless of
// its (deliberately unstable) spacing.
func compact(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return v
}

func TestRetryPolicy(t *testing.T) {
	tests := []struct {
		name string
		in   *networkingv1alpha3.HTTPRetry
		hash bool
		want string
	}{
		{name: "default", want: `{
			"retryOn": "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes", "numRetries": 2,
			"retryHostPredicate": [{"name": "envoy.retry_host_predicates.previous_hosts", "typedConfig": {
				"@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"}}],
			"hostSelectionRetryMaxAttempts": "5"}`},
		{name: "default with consistent hash", hash: true, want: `{
			"retryOn": "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes", "numRetries": 2,
			"hostSelectionRetryMaxAttempts": "5"}`},
		{name: "disabled", in: &networkingv1alpha3.HTTPRetry{Attempts: 0}, want: `null`},
		{name: "status codes only", hash: true, in: &networkingv1alpha3.HTTPRetry{Attempts: 1, RetryOn: "503, 504"},
			want: `{"retryOn":",retriable-status-codes","numRetries":1,"hostSelectionRetryMaxAttempts":"5","retriableStatusCodes":[503,504]}`},
		{name: "ignore previous hosts off", in: &networkingv1alpha3.HTTPRetry{Attempts: 3, RetryIgnorePreviousHosts: wrapperspb.Bool(false),
			Backoff: durationpb.New(25e6), PerTryTimeout: durationpb.New(1e9)},
			want: `{"retryOn":"connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes","numRetries":3,"perTryTimeout":"1s",` +
				`"hostSelectionRetryMaxAttempts":"5","retryBackOff":{"baseInterval":"0.025s"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := "null"
			if p := retryPolicy(tt.in, tt.hash); p != nil {
				got = protojson.Format(p)
			}
			if d := cmp.Diff(compact(t, tt.want), compact(t, got)); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestApplyRedirect(t *testing.T) {
	tests := []struct {
		name string
		in   *networkingv1alpha3.HTTPRedirect
		want string
	}{
		{name: "uri and authority", in: &networkingv1alpha3.HTTPRedirect{Uri: "/v2", Authority: "a.example.com"},
			want: `{"hostRedirect":"a.example.com","pathRedirect":"/v2"}`},
		{name: "derived port", in: &networkingv1alpha3.HTTPRedirect{
			RedirectPort: &networkingv1alpha3.HTTPRedirect_DerivePort{DerivePort: networkingv1alpha3.HTTPRedirect_FROM_REQUEST_PORT}, RedirectCode: 302},
			want: `{"portRedirect":8000,"pathRedirect":"","responseCode":"FOUND"}`},
		{name: "default port dropped", in: &networkingv1alpha3.HTTPRedirect{Scheme: "https",
			RedirectPort: &networkingv1alpha3.HTTPRedirect_Port{Port: 443}, PrefixRewrite: "/new"},
			want: `{"schemeRedirect":"https","prefixRewrite":"/new"}`},
		{name: "unsupported code", in: &networkingv1alpha3.HTTPRedirect{RedirectCode: 399}, want: `null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &routev3.Route{}
			applyRedirect(r, tt.in, 8000)
			got := "null"
			if r.GetRedirect() != nil {
				got = protojson.Format(r.GetRedirect())
			}
			if d := cmp.Diff(compact(t, tt.want), compact(t, got)); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestTranslateHTTPRoute(t *testing.T) {
	vs := &config.Config{Meta: config.Meta{Name: "reviews", Namespace: "default"}}
	proxy := &model.Proxy{Type: model.SidecarProxy, ConfigNamespace: "default", Labels: map[string]string{"app": "web"}}
	opts := &Options{Proxy: proxy, Port: 9080, Gateways: []string{model.MeshGateway}}
	dest := []*networkingv1alpha3.HTTPRouteDestination{{Destination: &networkingv1alpha3.Destination{Host: "reviews.default.svc.cluster.local"}}}
	tests := []struct {
		name         string
		in           *networkingv1alpha3.HTTPRoute
		wantNames    []string
		wantCatchAll bool
	}{
		{
			name: "matches for other ports, sources and gateways are dropped",
			in: &networkingv1alpha3.HTTPRoute{Name: "r", Route: dest, Match: []*networkingv1alpha3.HTTPMatchRequest{
				{Name: "port", Port: 8080},
				{Name: "labels", SourceLabels: map[string]string{"app": "other"}},
				{Name: "ns", SourceNamespace: "other"},
				{Name: "gw", Gateways: []string{"istio-system/gw"}},
				{Name: "mesh", Gateways: []string{"mesh"}, Uri: &networkingv1alpha3.StringMatch{MatchType: &networkingv1alpha3.StringMatch_Prefix{Prefix: "/a"}}},
			}},
			wantNames: []string{"r.mesh"},
		},
		{
			name: "a catch-all match ends the rule",
			in: &networkingv1alpha3.HTTPRoute{Name: "r", Route: dest, Match: []*networkingv1alpha3.HTTPMatchRequest{
				{Name: "all", SourceLabels: map[string]string{"app": "web"}},
				{Name: "never", Uri: &networkingv1alpha3.StringMatch{MatchType: &networkingv1alpha3.StringMatch_Exact{Exact: "/x"}}},
			}},
			wantNames:    []string{"r.all"},
			wantCatchAll: true,
		},
		{
			name: "no destination gives no route",
			in: &networkingv1alpha3.HTTPRoute{Name: "r", Route: []*networkingv1alpha3.HTTPRouteDestination{
				{Destination: dest[0].Destination}, {Destination: dest[0].Destination},
			}},
			wantNames: nil, wantCatchAll: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			routes, catchAll := TranslateHTTPRoute(vs, tt.in, opts)
			var names []string
			for _, r := range routes {
				names = append(names, r.Name)
			}
			if d := cmp.Diff(tt.wantNames, names); d != "" || catchAll != tt.wantCatchAll {
				t.Errorf("catchAll = %v, routes (-want +got):\n%s", catchAll, d)
			}
		})
	}
}

func TestJWTClaimMatch(t *testing.T) {
	m := translateRouteMatch(&networkingv1alpha3.HTTPMatchRequest{
		Headers: map[string]*networkingv1alpha3.StringMatch{
			"@request.auth.claims[groups][admin]": {MatchType: &networkingv1alpha3.StringMatch_Exact{Exact: "yes"}},
			"x-user":                              {MatchType: &networkingv1alpha3.StringMatch_Prefix{Prefix: "a"}},
		},
	})
	want := `{"prefix":"/","caseSensitive":true,"headers":[{"name":"x-user","stringMatch":{"prefix":"a"}}],
	"dynamicMetadata":[{"filter":"envoy.filters.http.jwt_authn","path":[{"key":"payload"},{"key":"groups"},{"key":"admin"}],
	"value":{"orMatch":{"valueMatchers":[{"listMatch":{"oneOf":{"stringMatch":{"exact":"yes"}}}},{"stringMatch":{"exact":"yes"}}]}}}]}`
	if d := cmp.Diff(compact(t, want), compact(t, protojson.Format(m))); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}
