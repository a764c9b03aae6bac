package xds

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	securityv1beta1 "istio.io/api/security/v1beta1"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pilot/pkg/xds/debounce"
	"github.com/sextant-mesh/sextant/pilot/pkg/xds/xdstest"
	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/mesh"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

// fakeClusters is a controllable cluster generator: the protocol tests care about what is
// sent when, not what it says.
type fakeClusters struct {
	mu       sync.Mutex
	clusters map[string]time.Duration // name -> connect timeout
	calls    int
}

func (f *fakeClusters) set(name string, timeout time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if timeout < 0 {
		delete(f.clusters, name)
		return
	}
	f.clusters[name] = timeout
}

func (f *fakeClusters) Generate(_ *model.PushContext, _ *model.Proxy, names []string, _ *model.PushRequest) ([]Resource, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var out []Resource
	for n, t := range f.clusters {
		if len(names) == 0 || want[n] {
			out = append(out, Resource{Name: n, Message: &clusterv3.Cluster{Name: n, ConnectTimeout: durationpb.New(t)}})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

type env struct {
	t      *testing.T
	server *Server
	gen    *fakeClusters
	conn   *grpc.ClientConn
	store  *model.Store
	pushes int
}

func newEnv(t *testing.T, mutate func(*Options)) *env {
	t.Helper()
	gen := &fakeClusters{clusters: map[string]time.Duration{"a": time.Second, "b": time.Second}}
	opts := Options{Debounce: debounce.Options{After: time.Millisecond, Max: 10 * time.Millisecond, EDSDebounce: true}, ControlPlaneID: "istiod-test"}
	if mutate != nil {
		mutate(&opts)
	}
	store := model.NewStore()
	s := NewServer(store, mesh.Default(), map[string]Generator{ClusterType: gen, EndpointType: gen}, opts)
	conn := xdstest.Serve(t, s)
	return &env{t: t, server: s, gen: gen, conn: conn, store: store}
}

var node = &corev3.Node{Id: "sidecar~10.1.1.1~app-1.default~default.svc.cluster.local"}

func (e *env) sotw(ctx context.Context) discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient {
	e.t.Helper()
	st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(e.conn).StreamAggregatedResources(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

// responses reads a stream on one goroutine into a channel, so tests can wait for a
// response or for its absence without losing messages.
func responses[T any](f func() (T, error)) chan T {
	ch := make(chan T, 100)
	go func() {
		for {
			v, err := f()
			if err != nil {
				close(ch)
				return
			}
			ch <- v
		}
	}()
	return ch
}

// recv waits for one response.
func recv[T any](t *testing.T, ch chan T) T {
	t.Helper()
	select {
	case v, ok := <-ch:
		if !ok {
			t.Fatal("stream closed")
		}
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("no response")
	}
	var zero T
	return zero
}

// noResponse asserts nothing arrives for a while.
func noResponse(t *testing.T, ch chan *discoveryv3.DiscoveryResponse) {
	t.Helper()
	select {
	case r, ok := <-ch:
		if ok {
			t.Fatalf("unexpected response: nonce %s, %d resources", r.Nonce, len(r.Resources))
		}
	case <-time.After(200 * time.Millisecond):
	}
}

// push reports a change of each key's VirtualService (written to the store with a new
// host each time, so that the proxies' scopes see a change) and a full push.
func (e *env) push(keys ...config.Key) {
	r := &model.PushRequest{Full: true, ConfigsUpdated: map[config.Key]struct{}{}}
	for _, k := range keys {
		e.pushes++
		h := fmt.Sprintf("h%d.example.com", e.pushes)
		var spec any = &networkingv1alpha3.VirtualService{Hosts: []string{h}}
		switch k.Kind {
		case schema.DestinationRule:
			spec = &networkingv1alpha3.DestinationRule{Host: h}
		case schema.PeerAuthentication:
			spec = &securityv1beta1.PeerAuthentication{}
		}
		e.store.Set(&config.Config{Meta: config.Meta{Kind: k.Kind, Namespace: k.Namespace, Name: k.Name}, Spec: spec})
		r.ConfigsUpdated[k] = struct{}{}
	}
	e.server.ConfigUpdate(r)
}

func (e *env) connection() *Connection {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if cs := e.server.Connections(); len(cs) == 1 {
			return cs[0]
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.t.Fatalf("want one connection, have %d", len(e.server.Connections()))
	return nil
}

var (
	vsKey = config.Key{Kind: schema.VirtualService, Namespace: "default", Name: "vs"}
	drKey = config.Key{Kind: schema.DestinationRule, Namespace: "default", Name: "dr"}
	paKey = config.Key{Kind: schema.PeerAuthentication, Namespace: "default", Name: "pa"}
)

func TestSotWFirstRequestAnsweredAndACKRecorded(t *testing.T) {
	e := newEnv(t, nil)
	st := e.sotw(t.Context())
	rs := responses(st.Recv)
	if err := st.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: ClusterType}); err != nil {
		t.Fatal(err)
	}
	resp := recv(t, rs)
	if len(resp.Resources) != 2 || resp.Nonce == "" || !strings.Contains(resp.GetControlPlane().GetIdentifier(), `"ID":"istiod-test"`) {
		t.Fatalf("response = %d resources, nonce %q, control plane %q", len(resp.Resources), resp.Nonce, resp.GetControlPlane().GetIdentifier())
	}
	w := e.connection().Watched()[ClusterType]
	if w.Synced() {
		t.Error("synced before the client ACKed: the first request's (empty) nonce is not an ACK")
	}
	if err := st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: ClusterType, ResponseNonce: resp.Nonce, VersionInfo: resp.VersionInfo}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { w := e.connection().Watched()[ClusterType]; return w.Synced() })
	noResponse(t, rs) // an ACK is not answered
}

func TestSotWNACKIsRecordedAndTheSameConfigNeverResent(t *testing.T) {
	e := newEnv(t, nil)
	st := e.sotw(t.Context())
	rs := responses(st.Recv)
	_ = st.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: ClusterType})
	resp := recv(t, rs)
	_ = st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: ClusterType, ResponseNonce: resp.Nonce,
		ErrorDetail: &status.Status{Code: int32(codes.InvalidArgument), Message: "bad cluster a"}})
	waitFor(t, func() bool { return e.connection().Watched()[ClusterType].LastNACK == "bad cluster a" })
	// Pushes that regenerate the rejected config send nothing: no NACK storm.
	for i := 0; i < 3; i++ {
		e.push(drKey)
	}
	noResponse(t, rs)
	// New config is sent, and its ACK clears the NACK.
	e.gen.set("a", 2*time.Second)
	e.push(drKey)
	next := recv(t, rs)
	if next.Nonce == resp.Nonce {
		t.Fatal("nonce reused")
	}
	_ = st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: ClusterType, ResponseNonce: next.Nonce})
	waitFor(t, func() bool {
		w := e.connection().Watched()[ClusterType]
		return w.Synced() && w.LastNACK == ""
	})
}

func TestSotWStaleNonceIgnoredAndSubscriptionChangesAnswered(t *testing.T) {
	e := newEnv(t, nil)
	st := e.sotw(t.Context())
	rs := responses(st.Recv)
	_ = st.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: EndpointType, ResourceNames: []string{"a"}})
	first := recv(t, rs)
	if len(first.Resources) != 1 {
		t.Fatalf("resources = %d, want only the subscribed one", len(first.Resources))
	}
	e.gen.set("a", 3*time.Second)
	e.push(paKey) // not a DestinationRule: its push would name only its host's endpoints
	second := recv(t, rs)
	// An ACK of the superseded response is stale: ignored, the state stays unsynced.
	_ = st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: EndpointType, ResponseNonce: first.Nonce, ResourceNames: []string{"a"}})
	time.Sleep(50 * time.Millisecond)
	if w := e.connection().Watched()[EndpointType]; w.Synced() {
		t.Fatal("stale nonce counted as an ACK")
	}
	// Subscribing to more names is answered.
	_ = st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: EndpointType, ResponseNonce: second.Nonce, ResourceNames: []string{"a", "b"}})
	third := recv(t, rs)
	if len(third.Resources) != 2 {
		t.Fatalf("resources = %d after subscribing to b", len(third.Resources))
	}
}

func TestReconnectGetsAFreshConnection(t *testing.T) {
	e := newEnv(t, nil)
	ctx, cancel := context.WithCancel(t.Context())
	st := e.sotw(ctx)
	rs := responses(st.Recv)
	_ = st.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: ClusterType})
	recv(t, rs)
	old := e.connection()
	cancel()
	waitFor(t, func() bool { return len(e.server.Connections()) == 0 })
	st2 := e.sotw(t.Context())
	rs2 := responses(st2.Recv)
	// A reconnecting Envoy sends the nonce it last saw: the new connection answers anyway.
	_ = st2.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: ClusterType, ResponseNonce: "stale-from-before"})
	if r := recv(t, rs2); len(r.Resources) != 2 {
		t.Fatalf("resources = %d", len(r.Resources))
	}
	if e.connection().ID == old.ID {
		t.Error("connection id reused")
	}
}

func TestNewStreamsAreRateLimited(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.RequestsPerSecond = 0.5 })
	st := e.sotw(t.Context())
	rs := responses(st.Recv)
	_ = st.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: ClusterType})
	recv(t, rs)
	// The next slot is 2s away: a stream whose deadline is sooner is refused at once.
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	st2 := e.sotw(ctx)
	_ = st2.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: ClusterType})
	_, err := st2.Recv()
	if c := grpcstatus.Code(err); c != codes.ResourceExhausted && c != codes.DeadlineExceeded {
		t.Fatalf("second stream: %v, want it refused by the rate limit", err)
	}
}

func TestSlowConsumerIsDisconnected(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.SendTimeout = 100 * time.Millisecond })
	// Large responses fill the HTTP/2 flow-control window of a client that never reads.
	for i := 0; i < 400; i++ {
		e.gen.set(strings.Repeat("x", 4000)+itoaVersion(uint64(i)), time.Second)
	}
	st := e.sotw(t.Context())
	_ = st.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: ClusterType})
	c := e.connection()
	for i := 0; i < 20; i++ {
		e.gen.set("a", time.Duration(i+2)*time.Second)
		e.push(drKey)
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case <-c.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("slow consumer still connected")
	}
	if n := len(e.server.Connections()); n != 0 {
		t.Errorf("%d connections left", n)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A VirtualService change that leaves a proxy's imported services as they were does not
// regenerate its clusters (they do not depend on routes); a DestinationRule change does.
func TestVirtualServicePushSkipsClusters(t *testing.T) {
	e := newEnv(t, nil)
	st := e.sotw(t.Context())
	rs := responses(st.Recv)
	_ = st.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: ClusterType})
	resp := recv(t, rs)
	_ = st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: ClusterType, ResponseNonce: resp.Nonce, VersionInfo: resp.VersionInfo})
	e.gen.set("a", 2*time.Second) // what the fake generator would now produce
	e.push(vsKey)
	noResponse(t, rs)
	e.push(drKey)
	if next := recv(t, rs); next.TypeUrl != ClusterType {
		t.Fatalf("got %s, want clusters", next.TypeUrl)
	}
}

// TestClusterChangeIsFollowedByEndpoints: Envoy keeps an updated EDS cluster warming
// until endpoints for it arrive, so a push that sends clusters must send endpoints after
// them even when those did not change; a push that sends no clusters sends no unchanged
// endpoints. Both stream flavours.
func TestClusterChangeIsFollowedByEndpoints(t *testing.T) {
	eds := &fakeClusters{clusters: map[string]time.Duration{"a": time.Second, "b": time.Second}}
	t.Run("sotw", func(t *testing.T) {
		e := newEnv(t, nil)
		e.server.generators[EndpointType] = eds
		st := e.sotw(t.Context())
		rs := responses(st.Recv)
		for _, typ := range []string{ClusterType, EndpointType} {
			var ns []string
			if typ == EndpointType {
				ns = []string{"a", "b"}
			}
			_ = st.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: typ, ResourceNames: ns})
			resp := recv(t, rs)
			_ = st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: typ, ResourceNames: ns, ResponseNonce: resp.Nonce, VersionInfo: resp.VersionInfo})
		}
		e.push(paKey) // nothing changed
		noResponse(t, rs)
		e.gen.set("a", 3*time.Second) // the cluster changes, its endpoints do not
		e.push(paKey)
		for _, want := range []string{ClusterType, EndpointType} {
			if got := recv(t, rs); got.TypeUrl != want {
				t.Fatalf("got %s, want %s", got.TypeUrl, want)
			}
		}
	})
	t.Run("delta", func(t *testing.T) {
		e := newEnv(t, nil)
		e.server.generators[EndpointType] = eds
		st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(e.conn).DeltaAggregatedResources(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		rs := responses(st.Recv)
		for _, typ := range []string{ClusterType, EndpointType} {
			var sub []string
			if typ == EndpointType {
				sub = []string{"a", "b"}
			}
			_ = st.Send(&discoveryv3.DeltaDiscoveryRequest{Node: node, TypeUrl: typ, ResourceNamesSubscribe: sub})
			resp := recv(t, rs)
			_ = st.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: typ, ResponseNonce: resp.Nonce})
		}
		e.gen.set("a", 3*time.Second)
		e.push(paKey)
		if got := recv(t, rs); got.TypeUrl != ClusterType || len(got.Resources) != 1 {
			t.Fatalf("got %s with %d resources, want the changed cluster", got.TypeUrl, len(got.Resources))
		}
		if got := recv(t, rs); got.TypeUrl != EndpointType || len(got.Resources) == 0 {
			t.Fatalf("got %s with %d resources, want the endpoints again", got.TypeUrl, len(got.Resources))
		}
	})
}

// TestDestinationRulePushSendsItsHostsEndpoints: a push caused by DestinationRules alone
// regenerates and sends the endpoints of the rules' hosts only (a cluster's endpoints
// read only its own service's rule); other changed endpoints wait for their own push.
func TestDestinationRulePushSendsItsHostsEndpoints(t *testing.T) {
	e := newEnv(t, nil)
	ruled, other := "outbound|80||h1.example.com", "outbound|80||other.example.com" // e.push names its first rule's host h1
	eds := &fakeClusters{clusters: map[string]time.Duration{ruled: time.Second, other: time.Second}}
	e.server.generators[EndpointType] = eds
	st := e.sotw(t.Context())
	rs := responses(st.Recv)
	names := []string{ruled, other}
	_ = st.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: EndpointType, ResourceNames: names})
	resp := recv(t, rs)
	_ = st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: EndpointType, ResourceNames: names, ResponseNonce: resp.Nonce, VersionInfo: resp.VersionInfo})
	eds.set(ruled, 2*time.Second)
	eds.set(other, 2*time.Second)
	e.push(drKey)
	got := recv(t, rs)
	if got.TypeUrl != EndpointType || len(got.Resources) != 1 {
		t.Fatalf("got %s with %d resources, want the ruled host's endpoints alone", got.TypeUrl, len(got.Resources))
	}
	cla := &clusterv3.Cluster{} // the fake generator serves clusters as endpoints
	if err := got.Resources[0].UnmarshalTo(cla); err != nil || cla.GetName() != ruled {
		t.Fatalf("sent %s (%v), want %s", cla.GetName(), err, ruled)
	}
}
