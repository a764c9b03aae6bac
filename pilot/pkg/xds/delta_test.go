package xds

import (
	"sort"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
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
