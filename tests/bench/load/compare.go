package load

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// WriteComparison writes, for each client count and stream mode measured against both
// Sextant and istiod, the headline figures side by side with their ratio, Sextant over
// istiod (below 1: Sextant is faster or smaller). A figure a run could not measure is
// n/a, and so is its ratio. istiod's ACK latencies count from the file write, so they
// include the oracle's directory polling and re-parsing ("ingest"), which istiod proper
// does not do; "ACK p50 after store" counts from the oracle's store write instead.
func WriteComparison(w io.Writer, rs []*Result) {
	type key struct {
		clients int
		delta   bool
	}
	var order []key
	pairs := map[key]*[2]*Result{} // sextant, istiod
	for _, r := range rs {
		k := key{r.Config.Clients, r.Config.Delta}
		p := pairs[k]
		if p == nil {
			p = &[2]*Result{}
			pairs[k] = p
			order = append(order, k)
		}
		if serverName(r) == "istiod" {
			p[1] = r
		} else {
			p[0] = r
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "clients\tmode\tfigure\tsextant\tistiod\tsextant/istiod\t")
	for _, k := range order {
		p := pairs[k]
		if p[0] == nil || p[1] == nil {
			continue
		}
		for _, row := range comparisonRows(p[0], p[1]) {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t\n", k.clients, mode(p[0]), row.name,
				row.a.String(), row.b.String(), ratio(row.a, row.b))
		}
	}
	tw.Flush()
}

// figure is one measured number, or none (n/a).
type figure struct {
	v      float64
	ok     bool
	format string
}

func (f figure) String() string {
	if !f.ok {
		return "n/a"
	}
	return fmt.Sprintf(f.format, f.v)
}

func ratio(a, b figure) string {
	if !a.ok || !b.ok || b.v == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", a.v/b.v)
}

type comparisonRow struct {
	name string
	a, b figure
}

// comparisonRows are the figures of a Sextant run s and an istiod run i: sync, memory,
// and per change kind (in s's order) convergence latency, responses and CPU.
func comparisonRows(s, i *Result) []comparisonRow {
	both := func(name, format string, f func(*Result) (float64, bool)) comparisonRow {
		av, aok := f(s)
		bv, bok := f(i)
		return comparisonRow{name, figure{av, aok, format}, figure{bv, bok, format}}
	}
	rows := []comparisonRow{
		both("sync s", "%.1f", func(r *Result) (float64, bool) { return r.SyncTime.Seconds(), r.SyncTime > 0 }),
		both("RSS synced MiB", "%.1f", func(r *Result) (float64, bool) {
			return float64(r.ServerSynced.RSS) / (1 << 20), r.ServerSynced.RSS > 0
		}),
		both("peak RSS MiB", "%.1f", func(r *Result) (float64, bool) {
			return float64(r.ServerEnd.PeakRSS) / (1 << 20), r.ServerEnd.PeakRSS > 0
		}),
		both("RSS/client KiB", "%.0f", func(r *Result) (float64, bool) { return rssPerClient(r) / 1024, r.ServerSynced.RSS > 0 }),
		both("server CPU s (run)", "%.1f", func(r *Result) (float64, bool) { return r.ServerEnd.CPU.Seconds(), r.ServerEnd.CPU > 0 }),
	}
	for _, sc := range s.Changes {
		kind := sc.Kind
		change := func(r *Result) *ChangeResult {
			for _, c := range r.Changes {
				if c.Kind == kind && c.Iterations > 0 {
					return c
				}
			}
			return nil
		}
		acked := func(p float64) func(*Result) (float64, bool) {
			return func(r *Result) (float64, bool) {
				c := change(r)
				if c == nil || len(c.Acked) == 0 {
					return 0, false
				}
				return msec(Percentile(c.Acked, p)), true
			}
		}
		rows = append(rows,
			both(string(kind)+" ACK p50 ms", "%.0f", acked(50)),
			both(string(kind)+" ACK p99 ms", "%.0f", acked(99)),
			both(string(kind)+" missed", "%.0f", func(r *Result) (float64, bool) {
				if c := change(r); c != nil {
					return float64(c.NotConverged), true
				}
				return 0, false
			}),
			both(string(kind)+" resp/chg aff.", "%.0f", func(r *Result) (float64, bool) {
				c := change(r)
				if c == nil {
					return 0, false
				}
				return float64(c.AffectedCounts.Responses()) / float64(c.Iterations), true
			}),
			both(string(kind)+" CPU s/chg", "%.2f", func(r *Result) (float64, bool) {
				c := change(r)
				if c == nil {
					return 0, false
				}
				return c.ServerCPU.Seconds() / float64(c.Iterations), true
			}),
			both(string(kind)+" ingest p50 ms", "%.0f", func(r *Result) (float64, bool) {
				c := change(r)
				if c == nil || len(c.Ingest) == 0 {
					return 0, false
				}
				return msec(Percentile(c.Ingest, 50)), true
			}),
			both(string(kind)+" ACK p50 after store ms", "%.0f", func(r *Result) (float64, bool) {
				c := change(r)
				if c == nil || len(c.AckedAfterStore) == 0 {
					return 0, false
				}
				return msec(Percentile(c.AckedAfterStore, 50)), true
			}),
			both(string(kind)+" ACK p99 after store ms", "%.0f", func(r *Result) (float64, bool) {
				c := change(r)
				if c == nil || len(c.AckedAfterStore) == 0 {
					return 0, false
				}
				return msec(Percentile(c.AckedAfterStore, 99)), true
			}),
		)
	}
	return rows
}

func msec(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
