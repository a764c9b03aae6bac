package model

import (
	"fmt"
	"testing"
	"time"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/host"
	"github.com/sextant-mesh/sextant/pkg/config/mesh"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

// TestEndpointChangesSince checks the endpoint index's log: the services each derive
// re-derived, accumulated back to an older version, and "unknown" past the log's bound
// or for a version that is not an ancestor.
func TestEndpointChangesSince(t *testing.T) {
	s := NewStore()
	t0 := time.Unix(1000, 0)
	a, b := serviceEntry("a", t0, "sa"), serviceEntry("b", t0, "sa")
	s.Set(a)
	s.Set(b)
	pc := NewPushContext(s, mesh.Default(), DefaultOptions())
	start := pc.EndpointsVersion()
	if c, ok := pc.EndpointChangesSince(start); !ok || len(c) != 0 {
		t.Fatalf("changes since its own version: %v %v", c, ok)
	}
	svcA, svcB := pc.ServiceIn(host.Name("a.example.com"), "ns"), pc.ServiceIn(host.Name("b.example.com"), "ns")
	// Move a's endpoint: only a's endpoints change.
	edit := func(name string, i int) {
		c := serviceEntry(name, t0, fmt.Sprintf("sa-%d", i))
		s.Set(c)
		pc = pc.Derive(s, map[config.Key]struct{}{c.Key(): {}})
	}
	edit("a", 1)
	c, ok := pc.EndpointChangesSince(start)
	if !ok || !c.Touches(svcA) || c.Touches(svcB) {
		t.Fatalf("after an edit of a: %v %v", c, ok)
	}
	afterA := pc.EndpointsVersion()
	edit("b", 2)
	if c, ok := pc.EndpointChangesSince(afterA); !ok || c.Touches(svcA) || !c.Touches(svcB) {
		t.Fatalf("since the edit of a: %v %v", c, ok)
	}
	if c, ok := pc.EndpointChangesSince(start); !ok || !c.Touches(svcA) || !c.Touches(svcB) {
		t.Fatalf("since the start: %v %v", c, ok)
	}
	other := NewPushContext(s, mesh.Default(), DefaultOptions())
	if _, ok := pc.EndpointChangesSince(other.EndpointsVersion()); ok {
		t.Fatal("changes known since an index that is not an ancestor")
	}
	for i := 0; i < maxEndpointChanges; i++ {
		edit("b", i+3)
	}
	if _, ok := pc.EndpointChangesSince(start); ok {
		t.Fatalf("changes known since a version more than %d changes old", maxEndpointChanges)
	}
	if c, ok := pc.EndpointChangesSince(afterA); ok || c != nil {
		t.Fatalf("changes known since a version %d changes old", maxEndpointChanges+1)
	}
}

// A proxy initialised again after a change keeps its service targets only while the
// services and endpoints they were found in are the same.
func TestInitProxyKeepsServiceTargets(t *testing.T) {
	s := NewStore()
	t0 := time.Unix(1000, 0)
	s.Set(serviceEntry("a", t0, "sa")) // endpoint 10.0.0.1
	pc := NewPushContext(s, mesh.Default(), DefaultOptions())
	p, err := ParseServiceNode("sidecar~10.0.0.1~app.ns~ns.svc.cluster.local", &NodeMetadata{Namespace: "ns"})
	if err != nil {
		t.Fatal(err)
	}
	pc.InitProxy(p)
	if len(p.ServiceTargets) != 1 {
		t.Fatalf("targets %v, want a's port", p.ServiceTargets)
	}
	next := func(c *config.Config) *Proxy {
		s.Set(c)
		pc = pc.Derive(s, map[config.Key]struct{}{c.Key(): {}})
		q := *p
		q.SidecarScope = nil
		pc.InitProxy(&q)
		return &q
	}
	// A rule changes neither services nor endpoints: the targets are kept as they are.
	rule := &config.Config{Meta: config.Meta{Kind: schema.DestinationRule, Namespace: "ns", Name: "r"},
		Spec: &networkingv1alpha3.DestinationRule{Host: "a.example.com"}}
	q := next(rule)
	if len(q.ServiceTargets) != 1 || &q.ServiceTargets[0] != &p.ServiceTargets[0] {
		t.Fatalf("after a rule edit: %v, want the same targets", q.ServiceTargets)
	}
	// A second service selecting the proxy's address: found on the next init.
	p = q
	if q = next(serviceEntry("b", t0.Add(time.Second), "sa")); len(q.ServiceTargets) != 2 {
		t.Fatalf("after a new service at the proxy's address: %v, want two targets", q.ServiceTargets)
	}
	// Its endpoint moves away: the target goes.
	p = q
	moved := serviceEntry("b", t0.Add(time.Second), "sa")
	moved.Spec.(*networkingv1alpha3.ServiceEntry).Endpoints[0].Address = "10.0.0.2"
	if q = next(moved); len(q.ServiceTargets) != 1 {
		t.Fatalf("after b's endpoint moved: %v, want one target", q.ServiceTargets)
	}
}
