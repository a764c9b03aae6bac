package load

import (
	"bytes"
	"testing"
	"time"

	"github.com/sextant-mesh/sextant/pkg/meshgen"
)

// smallConfig is a mesh a test can sync in seconds: 200 services in 10 namespaces, half
// of them isolated, 50 clients (5 per namespace).
func smallConfig(delta bool) Config {
	return Config{
		Spec: meshgen.Spec{Namespaces: 10, Services: 200, EndpointsPerService: 2,
			VirtualServicePercent: 20, DestinationRulePercent: 20, ServiceEntries: 20},
		Isolated:      5,
		Clients:       50,
		Delta:         delta,
		Changes:       []ChangeKind{VirtualServiceEdit, DestinationRuleEdit, EndpointSliceEdit},
		Iterations:    2,
		Server:        ServerOptions{Mode: "inproc", Debounce: 10 * time.Millisecond},
		ReadyTimeout:  2 * time.Minute,
		ChangeTimeout: time.Minute,
		Quiet:         300 * time.Millisecond,
		MaxQuiet:      30 * time.Second,
	}
}

// TestEveryAffectedClientConverges drives 50 simulated Envoys through VirtualService,
// DestinationRule and EndpointSlice edits, on SotW and Delta streams. It asserts what
// must hold whatever the machine: every client that can see the change ACKs a response
// reflecting it, none that cannot see it gets it, and an endpoint-only change sends
// nothing but EDS. Latencies are logged, never asserted.
func TestEveryAffectedClientConverges(t *testing.T) {
	if testing.Short() {
		t.Skip("drives 50 ADS streams")
	}
	for _, delta := range []bool{false, true} {
		name := map[bool]string{false: "sotw", true: "delta"}[delta]
		t.Run(name, func(t *testing.T) {
			r, err := Run(t.Context(), smallConfig(delta))
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			WriteSummary(&out, []*Result{r})
			out.WriteString("\n")
			WriteChanges(&out, []*Result{r})
			t.Logf("\n%s", out.String())
			if r.Reconnects > 0 {
				t.Errorf("%d reconnects: %v", r.Reconnects, r.StreamErrors)
			}
			if r.Held[0] == 0 || r.Held[1] == 0 || r.Held[2] == 0 || r.Held[3] == 0 {
				t.Errorf("clients hold %v (cds, eds, lds, rds): want every type", r.Held)
			}
			for _, c := range r.Changes {
				checkChange(t, c)
			}
		})
	}
}

func checkChange(t *testing.T, c *ChangeResult) {
	t.Helper()
	if c.Affected == 0 || c.Unaffected == 0 {
		t.Errorf("%s: %d affected, %d unaffected clients: the mesh should have both", c.Kind, c.Affected, c.Unaffected)
	}
	if c.NotConverged > 0 {
		t.Errorf("%s: %d of %d affected client-changes never ACKed a response reflecting the change", c.Kind, c.NotConverged, c.Affected*c.Iterations)
	}
	if c.Unexpected > 0 {
		t.Errorf("%s: %d unaffected client-changes received it", c.Kind, c.Unexpected)
	}
	want := map[ChangeKind]int{VirtualServiceEdit: 3, DestinationRuleEdit: 0, EndpointSliceEdit: 1}[c.Kind]
	if got := c.AffectedCounts[want].Responses; got < c.Affected*c.Iterations {
		t.Errorf("%s: affected clients got %d %s responses over %d changes, want at least one each", c.Kind, got, TypeNames[want], c.Iterations)
	}
	if c.Kind != EndpointSliceEdit {
		return
	}
	// An endpoint-only change is an EDS push: no clusters, listeners or routes.
	for _, i := range []int{0, 2, 3} {
		if n := c.AffectedCounts[i].Responses + c.UnaffectedCounts[i].Responses; n > 0 {
			t.Errorf("eds: %d %s responses, want none", n, TypeNames[i])
		}
		if n := c.Server.ByType("pilot_xds_pushes")[i]; n > 0 {
			t.Errorf("eds: the server counted %v %s pushes, want none", n, TypeNames[i])
		}
	}
}
