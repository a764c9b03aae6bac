package load

import (
	"bytes"
	"os"
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

// serviceEntryConfig is smallConfig's mesh with ServiceEntries for services, scoped by
// Sidecars (every namespace, plus per-workload ones importing one more namespace).
func serviceEntryConfig(delta bool) Config {
	c := smallConfig(delta)
	c.Spec.ServiceEntryServices, c.Spec.ServiceEntries, c.Spec.EnvoyFilters, c.Spec.Sidecars = true, 0, 10, 30
	c.Isolated = 0
	c.Clients = 40
	c.Changes = []ChangeKind{VirtualServiceEdit, DestinationRuleEdit, ServiceEntryEndpointEdit}
	return c
}

// TestEveryAffectedClientConverges drives 50 simulated Envoys through VirtualService,
// DestinationRule and EndpointSlice edits, on SotW and Delta streams, and 40 through
// VirtualService, DestinationRule and ServiceEntry endpoint edits on the ServiceEntry
// mesh with Sidecars. It asserts what must hold whatever the machine: every client that
// can see the change ACKs a response reflecting it, none that cannot see it gets it, and
// an endpoint-only change sends nothing but EDS. Latencies are logged, never asserted.
func TestEveryAffectedClientConverges(t *testing.T) {
	if testing.Short() {
		t.Skip("drives 50 ADS streams")
	}
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"sotw", smallConfig(false)},
		{"delta", smallConfig(true)},
		{"serviceentries-sidecars-sotw", serviceEntryConfig(false)},
	} {
		t.Run(tc.name, func(t *testing.T) { checkRun(t, tc.cfg) })
	}
}

// TestIstiodConverges runs the ServiceEntry mesh against upstream istiod (the oracle),
// asserting the same facts as for Sextant but the server's push counters, which the
// oracle does not serve.
func TestIstiodConverges(t *testing.T) {
	if testing.Short() {
		t.Skip("starts upstream istiod and 40 ADS streams")
	}
	if _, err := os.Stat(DefaultOracle()); err != nil {
		t.Skipf("no istiod oracle: %v", err)
	}
	cfg := serviceEntryConfig(false)
	cfg.Server = ServerOptions{Mode: "istiod"}
	// Under the load of a whole `make test` the oracle once closed a stream (EOF) before
	// it synced; its clients re-open streams as Envoy does. Sextant's must never need to.
	cfg.MaxReconnects = 3
	r := checkRun(t, cfg)
	for _, c := range r.Changes {
		if len(c.Ingest) != c.Iterations {
			t.Errorf("%s: %d oracle store writes seen for %d changes", c.Kind, len(c.Ingest), c.Iterations)
		}
	}
}

func checkRun(t *testing.T, cfg Config) *Result {
	t.Helper()
	r, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	WriteSummary(&out, []*Result{r})
	out.WriteString("\n")
	WriteChanges(&out, []*Result{r})
	t.Logf("\n%s", out.String())
	switch {
	case r.Reconnects > 0 && cfg.Server.Mode != "istiod":
		t.Errorf("%d reconnects: %v", r.Reconnects, r.StreamErrors)
	case r.Reconnects > 0:
		t.Logf("%d reconnects: %v", r.Reconnects, r.StreamErrors)
	}
	if r.Held[0] == 0 || r.Held[1] == 0 || r.Held[2] == 0 || r.Held[3] == 0 {
		t.Errorf("clients hold %v (cds, eds, lds, rds): want every type", r.Held)
	}
	if len(r.Changes) != len(cfg.Changes) {
		t.Errorf("%d changes measured, want %d", len(r.Changes), len(cfg.Changes))
	}
	for _, c := range r.Changes {
		checkChange(t, c)
	}
	return r
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
	want := map[ChangeKind]int{VirtualServiceEdit: 3, DestinationRuleEdit: 0, EndpointSliceEdit: 1, ServiceEntryEndpointEdit: 1}[c.Kind]
	if got := c.AffectedCounts[want].Responses; got < c.Affected*c.Iterations {
		t.Errorf("%s: affected clients got %d %s responses over %d changes, want at least one each", c.Kind, got, TypeNames[want], c.Iterations)
	}
	if !c.Kind.EndpointOnly() {
		return
	}
	// An endpoint-only change is an EDS push: no clusters, listeners or routes.
	for _, i := range []int{0, 2, 3} {
		if n := c.AffectedCounts[i].Responses + c.UnaffectedCounts[i].Responses; n > 0 {
			t.Errorf("%s: %d %s responses, want none", c.Kind, n, TypeNames[i])
		}
		if n := c.Server.ByType("pilot_xds_pushes")[i]; n > 0 {
			t.Errorf("%s: the server counted %v %s pushes, want none", c.Kind, n, TypeNames[i])
		}
	}
}
