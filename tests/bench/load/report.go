package load

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Percentile returns the p-th percentile (0-100, nearest rank) of sorted ds; 0 if empty.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	i := int(float64(len(ds))*p/100+0.999999) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

func mode(r *Result) string {
	if r.Config.Delta {
		return "delta"
	}
	return "sotw"
}

func mib(b float64) string { return fmt.Sprintf("%.1f", b/(1<<20)) }

func ms(d time.Duration) string { return fmt.Sprintf("%.0f", float64(d)/float64(time.Millisecond)) }

// WriteSummary writes one line per run: sync, resources per client, memory and CPU.
func WriteSummary(w io.Writer, rs []*Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "server\tclients\tmode\tsync s\tcds\teds\tlds\trds\tKiB/client sync\tRSS start MiB\tRSS synced MiB\tpeak RSS MiB\tRSS/client KiB\tserver CPU s\tdriver CPU s\treconnects\trefused\tload avg\tother CPU s\tsteal s\t")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%.1f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%s\t%s\t%s\t%.0f\t%.1f\t%.1f\t%d\t%d\t%.1f-%.1f\t%s\t%.1f\t\n",
			serverName(r), r.Config.Clients, mode(r), r.SyncTime.Seconds(), r.Held[0], r.Held[1], r.Held[2], r.Held[3],
			r.InitialBytes/1024, mib(float64(r.ServerStart.RSS)), mib(float64(r.ServerSynced.RSS)),
			mib(float64(r.ServerEnd.PeakRSS)), rssPerClient(r)/1024, r.ServerEnd.CPU.Seconds(), driverCPU(r).Seconds(), r.Reconnects, r.Refused, r.LoadAvg[0], r.LoadAvg[1], otherCPU(r), r.Steal.Seconds())
	}
	tw.Flush()
}

// serverName is "sextant" or "istiod".
func serverName(r *Result) string {
	if r.Server != "" {
		return r.Server
	}
	return r.Config.Server.Name()
}

// rssPerClient is the server's RSS growth from start to synced, per client, in bytes.
func rssPerClient(r *Result) float64 {
	return float64(r.ServerSynced.RSS-r.ServerStart.RSS) / float64(max(r.Config.Clients, 1))
}

// WriteChanges writes one line per run and change kind: when the first client received
// the change, convergence latency (file write -> ACK) over affected clients, what was
// sent per change, and the server's work. Server counters are n/a for a server without
// metrics (istiod's oracle); ingest (file write -> config store write) and the latency
// counted from the store write are n/a for a server that does not report its store writes
// (Sextant in process).
func WriteChanges(w io.Writer, rs []*Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "server\tclients\tmode\tchange\tn\taffected\tunaff.\tfirst ms\tp50 ms\tp90 ms\tp99 ms\tmax ms\tmissed\tresp/chg aff.\tby type\tresp/chg unaff.\tMiB/chg\tsrv pushes/chg\tsrv gens/chg\tsrv gen MiB/chg\tsrv CPU s/chg\tingest p50 ms\tafter store p50/p99 ms\tmax ms each (after store)\t")
	for _, r := range rs {
		for _, c := range r.Changes {
			n := float64(max(c.Iterations, 1))
			sent := float64(c.AffectedCounts.Bytes() + c.UnaffectedCounts.Bytes())
			pushes, gens, genBytes, ingest := "n/a", "n/a", "n/a", "n/a"
			if c.Server != nil && len(c.Server) > 0 {
				pushes = fmt.Sprintf("%.0f", sum(c.Server.ByType("pilot_xds_pushes"))/n)
				gens = fmt.Sprintf("%.0f", sum(c.Server.ByType("pilot_xds_push_time_count"))/n)
				genBytes = mib(sum(c.Server.ByType("pilot_xds_config_size_bytes_sum")) / n)
			}
			if len(c.Ingest) > 0 {
				ingest = ms(Percentile(c.Ingest, 50))
			}
			afterStore := "n/a"
			if len(c.AckedAfterStore) > 0 {
				afterStore = ms(Percentile(c.AckedAfterStore, 50)) + "/" + ms(Percentile(c.AckedAfterStore, 99))
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%d\t%.0f\t%s\t%.0f\t%s\t%s\t%s\t%s\t%.2f\t%s\t%s\t%s\t\n",
				serverName(r), r.Config.Clients, mode(r), c.Kind, c.Iterations, c.Affected, c.Unaffected,
				ms(Percentile(c.Received, 0)), ms(Percentile(c.Acked, 50)), ms(Percentile(c.Acked, 90)), ms(Percentile(c.Acked, 99)), ms(Percentile(c.Acked, 100)),
				c.NotConverged, float64(c.AffectedCounts.Responses())/n, byType(c.AffectedCounts, n),
				float64(c.UnaffectedCounts.Responses())/n, mib(sent/n), pushes, gens, genBytes, c.ServerCPU.Seconds()/n, ingest, afterStore, eachMax(c))
		}
	}
	tw.Flush()
}

func sum(v [4]float64) float64 { return v[0] + v[1] + v[2] + v[3] }

func byType(c Counts, n float64) string {
	var parts []string
	for i, t := range c {
		if t.Responses > 0 {
			parts = append(parts, fmt.Sprintf("%s:%.0f", TypeNames[i], float64(t.Responses)/n))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ",")
}

// driverCPU is this process's CPU time during the run.
func driverCPU(r *Result) time.Duration { return r.Driver.CPU - r.DriverStart.CPU }

// otherCPU is the machine's CPU time not spent by the server or the driver during the
// run (the machine figures start once the server is up, so its startup is left out).
func otherCPU(r *Result) string {
	own := r.ServerEnd.CPU - r.ServerStart.CPU + driverCPU(r)
	if m := r.Config.Server.Mode; m == "inproc" || m == "" { // one process
		own = driverCPU(r)
	}
	return fmt.Sprintf("%.1f", (r.MachineCPU - own).Seconds())
}

func eachMax(c *ChangeResult) string {
	parts := make([]string, len(c.Each))
	for i, it := range c.Each {
		parts[i] = strconv.FormatInt(it.MaxAfterStore.Milliseconds(), 10)
	}
	return strings.Join(parts, ",")
}
