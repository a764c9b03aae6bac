package xds

import (
	"maps"
	"sort"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
)

func names(r *discoveryv3.DeltaDiscoveryResponse) []string {
	var out []string
	for _, res := range r.Resources {
		out = append(out, res.Name)
	}
	sort.Strings(out)
	return out
}

func TestDeltaSendsOnlyChangesAndRemovals(t *testing.T) {
	e := newEnv(t, nil)
	st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(e.conn).DeltaAggregatedResources(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	rs := responses(st.Recv)
	_ = st.Send(&discoveryv3.DeltaDiscoveryRequest{Node: node, TypeUrl: ClusterType})
	first := recv(t, rs)
	if got := names(first); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Fatalf("first response = %v, want a and b", got)
	}
	_ = st.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: ClusterType, ResponseNonce: first.Nonce})
	waitFor(t, func() bool { w := e.connection().Watched()[ClusterType]; return w.Synced() })

	// A push that changes nothing sends nothing.
	e.push(drKey)
	select {
	case r := <-rs:
		t.Fatalf("unchanged push sent %v, removed %v", names(r), r.RemovedResources)
	case <-time.After(200 * time.Millisecond):
	}

	// Change a, remove b, add c: exactly those travel.
	e.gen.set("a", 5*time.Second)
	e.gen.set("b", -1)
	e.gen.set("c", time.Second)
	e.push(drKey)
	r := recv(t, rs)
	if got := names(r); len(got) != 2 || got[0] != "a" || got[1] != "c" {
		t.Errorf("changed = %v, want a and c", got)
	}
	if len(r.RemovedResources) != 1 || r.RemovedResources[0] != "b" {
		t.Errorf("removed = %v, want b", r.RemovedResources)
	}
}

func TestDeltaReconnectDoesNotResendWhatTheClientHas(t *testing.T) {
	e := newEnv(t, nil)
	client := discoveryv3.NewAggregatedDiscoveryServiceClient(e.conn)
	st, err := client.DeltaAggregatedResources(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	rs := responses(st.Recv)
	_ = st.Send(&discoveryv3.DeltaDiscoveryRequest{Node: node, TypeUrl: ClusterType})
	first := recv(t, rs)
	have := map[string]string{}
	for _, res := range first.Resources {
		have[res.Name] = res.Version
	}
	e.gen.set("b", 9*time.Second) // b changes while the client is away
	st2, err := client.DeltaAggregatedResources(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	rs2 := responses(st2.Recv)
	_ = st2.Send(&discoveryv3.DeltaDiscoveryRequest{Node: node, TypeUrl: ClusterType, InitialResourceVersions: have})
	r := recv(t, rs2)
	if got := names(r); len(got) != 1 || got[0] != "b" {
		t.Errorf("after reconnect sent %v, want only the changed b", got)
	}
}

// deltaClusters is fakeClusters answering with changes to its last answer, as a
// DeltaGenerator: it counts the answers of each kind.
type deltaClusters struct {
	*fakeClusters
	last          map[string]time.Duration
	deltas, fulls int
}

func (d *deltaClusters) Generate(pc *model.PushContext, p *model.Proxy, names []string, req *model.PushRequest) ([]Resource, error) {
	d.mu.Lock()
	d.fulls++
	d.last = maps.Clone(d.clusters)
	d.mu.Unlock()
	return d.fakeClusters.Generate(pc, p, names, req)
}

func (d *deltaClusters) GenerateDelta(_ *model.PushContext, _ *model.Proxy, _ []string, _ *model.PushRequest) ([]Resource, []string, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.deltas++
	var rs []Resource
	var removed []string
	for n, t := range d.clusters {
		if old, ok := d.last[n]; !ok || old != t {
			rs = append(rs, Resource{Name: n, Message: &clusterv3.Cluster{Name: n, ConnectTimeout: durationpb.New(t)}})
		}
	}
	for n := range d.last {
		if _, ok := d.clusters[n]; !ok {
			removed = append(removed, n)
		}
	}
	removed = append(removed, "never-sent")
	d.last = maps.Clone(d.clusters)
	return rs, removed, true, nil
}

func (d *deltaClusters) counts() (deltas, fulls int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.deltas, d.fulls
}

// TestDeltaPushesAskForChangesOnlyWhileTheClientIsCurrent checks that a push asks a
// DeltaGenerator for changes only when the client was sent its last answer: not for a
// subscription's first answer, nor after the subscription changed. Changes and removals
// travel as given, less the removed names the client never had.
func TestDeltaPushesAskForChangesOnlyWhileTheClientIsCurrent(t *testing.T) {
	e := newEnv(t, nil)
	gen := &deltaClusters{fakeClusters: e.gen}
	e.server.generators[ClusterType] = gen
	st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(e.conn).DeltaAggregatedResources(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	rs := responses(st.Recv)
	step := func(name string, wantDeltas, wantFulls int) {
		t.Helper()
		if d, f := gen.counts(); d != wantDeltas || f != wantFulls {
			t.Fatalf("%s: %d delta and %d full answers, want %d and %d", name, d, f, wantDeltas, wantFulls)
		}
	}
	_ = st.Send(&discoveryv3.DeltaDiscoveryRequest{Node: node, TypeUrl: ClusterType})
	first := recv(t, rs)
	step("first request", 0, 1)
	_ = st.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: ClusterType, ResponseNonce: first.Nonce})

	e.gen.set("a", 5*time.Second)
	e.gen.set("b", -1)
	e.push(drKey)
	r := recv(t, rs)
	step("push", 1, 1)
	if got := names(r); len(got) != 1 || got[0] != "a" || len(r.RemovedResources) != 1 || r.RemovedResources[0] != "b" {
		t.Fatalf("delta push sent %v and removed %v, want a and b", got, r.RemovedResources)
	}

	_ = st.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: ClusterType, ResponseNonce: r.Nonce})
	e.push(drKey)
	noResponseDelta(t, rs)
	step("push without changes", 2, 1)

	// A subscription change: the next push takes a full answer.
	_ = st.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: ClusterType, ResourceNamesUnsubscribe: []string{"c"}})
	waitFor(t, func() bool { return !e.connection().Watched()[ClusterType].current })
	e.gen.set("d", time.Second)
	e.push(drKey)
	r = recv(t, rs)
	step("push after a subscription change", 2, 2)
	if got := names(r); len(got) != 1 || got[0] != "d" {
		t.Fatalf("push after a subscription change sent %v, want d", got)
	}
}

func noResponseDelta(t *testing.T, ch chan *discoveryv3.DeltaDiscoveryResponse) {
	t.Helper()
	select {
	case r, ok := <-ch:
		if ok {
			t.Fatalf("unexpected response: %v, removed %v", names(r), r.RemovedResources)
		}
	case <-time.After(200 * time.Millisecond):
	}
}
