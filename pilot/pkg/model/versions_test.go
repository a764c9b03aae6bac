package model

import (
	"fmt"
	"testing"
	"time"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/host"
	"github.com/sextant-mesh/sextant/pkg/config/mesh"
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
