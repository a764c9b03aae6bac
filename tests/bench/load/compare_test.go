package load

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func fakeResult(server string, sync time.Duration, p50 time.Duration, ingest []time.Duration) *Result {
	mode := "exec"
	if server == "istiod" {
		mode = "istiod"
	}
	r := &Result{
		Config:       Config{Clients: 10, Server: ServerOptions{Mode: mode}},
		Server:       server,
		SyncTime:     sync,
		ServerStart:  ProcStat{RSS: 10 << 20},
		ServerSynced: ProcStat{RSS: 20 << 20},
		ServerEnd:    ProcStat{PeakRSS: 30 << 20, CPU: time.Second},
		Changes: []*ChangeResult{{Kind: VirtualServiceEdit, Iterations: 2, Affected: 5,
			Acked: []time.Duration{p50, p50, 2 * p50}, ServerCPU: time.Second, Ingest: ingest}},
	}
	if len(ingest) > 0 {
		r.Changes[0].AckedAfterStore = []time.Duration{p50 - ingest[0]}
	}
	return r
}

// TestWriteComparison: one block per client count and mode with both servers, ratios
// Sextant/istiod, n/a where a server measured nothing.
func TestWriteComparison(t *testing.T) {
	var b bytes.Buffer
	WriteComparison(&b, []*Result{
		fakeResult("sextant", time.Second, 100*time.Millisecond, nil),
		fakeResult("istiod", 2*time.Second, 400*time.Millisecond, []time.Duration{50 * time.Millisecond}),
	})
	out := b.String()
	for _, want := range [][]string{
		{"sync s", "1.0", "2.0", "0.50"},
		{"vs ACK p50 ms", "100", "400", "0.25"},
		{"vs ACK p99 ms", "200", "800", "0.25"},
		{"RSS/client KiB", "1024", "1024", "1.00"},
		{"vs CPU s/chg", "0.50", "0.50", "1.00"},
		{"vs ingest p50 ms", "n/a", "50", "n/a"},
		{"vs ACK p50 after store ms", "n/a", "350", "n/a"},
	} {
		if !hasRow(out, want) {
			t.Errorf("no row %v in\n%s", want, out)
		}
	}
	b.Reset()
	WriteComparison(&b, []*Result{fakeResult("sextant", time.Second, time.Millisecond, nil)})
	if lines := strings.Count(b.String(), "\n"); lines != 1 {
		t.Errorf("one server only: want the header alone, got\n%s", b.String())
	}
}

func hasRow(out string, cells []string) bool {
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, cells[0]) {
			continue
		}
		f := strings.Fields(strings.TrimPrefix(line[strings.Index(line, cells[0]):], cells[0]))
		if len(f) == 3 && f[0] == cells[1] && f[1] == cells[2] && f[2] == cells[3] {
			return true
		}
	}
	return false
}
