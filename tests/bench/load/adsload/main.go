// Command adsload measures config change -> every affected proxy ACKed, against Sextant
// and/or upstream istiod on a generated mesh (see package load). For each client count,
// stream mode and server it writes the mesh to a fresh directory, starts the server on it
// (a child pilot-discovery process by default, so its CPU and memory are its own; the
// istiod oracle with -servers ...,istiod), syncs the clients, applies each change
// -iterations times and prints two tables: per run (sync, resources per client, memory,
// CPU) and per change (latency percentiles over affected clients, responses and bytes per
// change, the server's pushes, generations and CPU per change). With both servers a third
// table sets their figures side by side with the ratio Sextant/istiod.
//
//	go build -o bin/pilot-discovery ./pilot/cmd/pilot-discovery
//	go run ./tests/bench/load/adsload -clients 100,1000 -services 1000
//	go run ./tests/bench/load/adsload -servers sextant,istiod -se-services -services 10000 \
//	    -service-entries 0 -envoy-filters 500 -sidecars 1000 -clients 1000
//
// PILOT_* variables in the environment reach Sextant (e.g. PILOT_DEBOUNCE_AFTER). The
// istiod oracle pushes without debounce (its fake discovery server fixes 0); pass
// -debounce 1ms for Sextant to compare like with like.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/sextant-mesh/sextant/tests/bench/load"
)

func main() {
	var (
		cfg     load.Config
		clients = flag.String("clients", "100", "comma-separated client counts, one run each")
		modes   = flag.String("modes", "sotw", "comma-separated stream modes: sotw, delta")
		changes = flag.String("changes", "", "changes to apply, in order: vs (VirtualService), dr (DestinationRule), eds (EndpointSlice), se-eds (ServiceEntry endpoints); default vs,dr,eds, or vs,dr,se-eds with -se-services, or vs,dr against istiod without -se-services")
		servers = flag.String("servers", "", "comma-separated servers to measure one after the other on the same mesh: sextant (as -server says), istiod (the oracle); default: -server alone")
		oracle  = flag.String("oracle", load.DefaultOracle(), "the istiod oracle binary (../shared/oracle), for istiod")
		jsonOut = flag.String("json", "", "also write the results as JSON to this file")
		total   = flag.Duration("max-duration", 90*time.Minute, "give up after this long in all")
		verbose = flag.Bool("v", true, "report progress on stderr")
		memProf = flag.String("memprofile", "", "write a heap profile of this process (after a GC) once the (last run's) clients are synced: the server's too with -server inproc")
		cpuProf = flag.String("cpuprofile", "", "write a CPU profile of this process from the end of the (last run's) sync to the end: the server's changes too with -server inproc")
	)
	flag.IntVar(&cfg.Spec.Services, "services", 1000, "services (Kubernetes Services, or ServiceEntries with -se-services)")
	flag.BoolVar(&cfg.Spec.ServiceEntryServices, "se-services", false, "make the services MESH_INTERNAL STATIC ServiceEntries with inline endpoints (no Kubernetes Services)")
	flag.IntVar(&cfg.Spec.Namespaces, "namespaces", 50, "namespaces")
	flag.IntVar(&cfg.Spec.EndpointsPerService, "endpoints", 2, "pods per service")
	flag.IntVar(&cfg.Spec.VirtualServicePercent, "vs-percent", 20, "share of services with a VirtualService")
	flag.IntVar(&cfg.Spec.DestinationRulePercent, "dr-percent", 20, "share of services with a DestinationRule")
	flag.IntVar(&cfg.Spec.ServiceEntries, "service-entries", -1, "MESH_EXTERNAL DNS ServiceEntries besides the services (default services/10)")
	flag.IntVar(&cfg.Spec.EnvoyFilters, "envoy-filters", 0, "EnvoyFilters (one in ten mesh-wide, the others per workload)")
	flag.IntVar(&cfg.Spec.Sidecars, "sidecars", 0, "Sidecars: a namespace-wide one per namespace first, then per-workload ones importing one more namespace")
	flag.IntVar(&cfg.Isolated, "isolated", -1, "namespaces whose proxies import only their own namespace (default namespaces/2 without -sidecars, else 0)")
	flag.IntVar(&cfg.Iterations, "iterations", 5, "times each change is applied")
	istiodIterations := flag.Int("istiod-iterations", 0, "times each change is applied to istiod (default -iterations): an istiod change takes seconds to settle, Sextant's a second, so a side-by-side run can give Sextant's p99 more samples in the same time")
	flag.StringVar(&cfg.Server.Mode, "server", "exec", "exec (child pilot-discovery), inproc (this process), addr (running at -addr) or istiod (the oracle, child process)")
	flag.StringVar(&cfg.Server.Binary, "sextant", "bin/pilot-discovery", "pilot-discovery binary, for -server exec")
	flag.StringVar(&cfg.Server.Addr, "addr", "", "xDS address of a running server (127.0.0.0/8 only), for -server addr; it must watch -workdir/mesh")
	flag.StringVar(&cfg.Server.MetricsURL, "metrics-url", "", "its /metrics URL, for -server addr")
	flag.IntVar(&cfg.Server.PID, "pid", 0, "its process id (CPU and memory), for -server addr")
	flag.DurationVar(&cfg.Server.Debounce, "debounce", 0, "PILOT_DEBOUNCE_AFTER for Sextant (default: its own, 100ms; the istiod oracle has none)")
	flag.DurationVar(&cfg.Server.ReadyTimeout, "server-timeout", 0, "bound on a child server's start (default 2m for Sextant, 10m for istiod)")
	flag.StringVar(&cfg.WorkDir, "workdir", "", "directory for the mesh and server log (default: a temporary one, removed)")
	flag.DurationVar(&cfg.ReadyTimeout, "ready-timeout", 10*time.Minute, "bound on syncing all clients")
	flag.DurationVar(&cfg.ChangeTimeout, "timeout", 5*time.Minute, "bound on one change reaching all affected clients")
	flag.DurationVar(&cfg.Quiet, "quiet", time.Second, "a change is over once the server has sent and generated nothing for this long")
	flag.DurationVar(&cfg.MaxQuiet, "max-quiet", 2*time.Minute, "bound on waiting for quiet")
	flag.IntVar(&cfg.MaxReconnects, "max-reconnects", 3, "times a client re-opens a broken stream")
	flag.Parse()

	if cfg.Spec.ServiceEntries < 0 {
		cfg.Spec.ServiceEntries = cfg.Spec.Services / 10
	}
	if cfg.Isolated < 0 && cfg.Spec.Sidecars == 0 {
		cfg.Isolated = cfg.Spec.Namespaces / 2
	}
	cfg.Isolated = max(cfg.Isolated, 0)
	runs, err := serverOptions(cfg.Server, *servers, *oracle)
	if err != nil {
		fail(err)
	}
	if *changes == "" {
		*changes = defaultChanges(cfg.Spec.ServiceEntryServices, runs)
	}
	for _, s := range split(*changes) {
		k, err := load.ParseChangeKind(s)
		if err != nil {
			fail(err)
		}
		cfg.Changes = append(cfg.Changes, k)
	}
	if *verbose {
		cfg.Logf = func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
		}
	}
	if *cpuProf != "" {
		f, err := os.Create(*cpuProf)
		if err != nil {
			fail(err)
		}
		defer pprof.StopCPUProfile()
		cfg.OnSynced = func() {
			pprof.StopCPUProfile() // a profile covers the changes of the last run only
			_ = f.Truncate(0)
			_, _ = f.Seek(0, 0)
			if err := pprof.StartCPUProfile(f); err != nil {
				fail(err)
			}
		}
	}
	if *memProf != "" {
		synced := cfg.OnSynced
		cfg.OnSynced = func() {
			runtime.GC()
			f, err := os.Create(*memProf)
			if err != nil {
				fail(err)
			}
			defer f.Close()
			if err := pprof.WriteHeapProfile(f); err != nil {
				fail(err)
			}
			if synced != nil {
				synced()
			}
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *total)
	defer cancel()

	kind := "Kubernetes Services"
	if cfg.Spec.ServiceEntryServices {
		kind = "ServiceEntries"
	}
	var names []string
	for _, o := range runs {
		names = append(names, o.Name()+" ("+o.Mode+")")
	}
	fmt.Printf("mesh: %d services as %s in %d namespaces (%d isolated), %d pods/service, %d%% VS, %d%% DR, %d external ServiceEntries, %d EnvoyFilters, %d Sidecars; changes %s, %d iterations each; servers %s\n",
		cfg.Spec.Services, kind, cfg.Spec.Namespaces, cfg.Isolated, cfg.Spec.EndpointsPerService, cfg.Spec.VirtualServicePercent,
		cfg.Spec.DestinationRulePercent, cfg.Spec.ServiceEntries, cfg.Spec.EnvoyFilters, cfg.Spec.Sidecars, *changes, cfg.Iterations, strings.Join(names, ", "))
	if *istiodIterations > 0 {
		fmt.Printf("istiod: %d iterations of each change\n", *istiodIterations)
	}
	if len(runs) > 1 || runs[0].Mode == "istiod" {
		fmt.Printf("note: istiod runs in the oracle: no debounce (its fake discovery server fixes 0; Sextant's is %s), no /metrics\n"+
			"      (push counters n/a; quiet = no responses), and edits reach it by 100ms directory polling and a full re-parse\n"+
			"      (the \"ingest\" figures; \"after store\" figures leave it out)\n", debounceText(cfg.Server.Debounce))
	}
	var results []*load.Result
	for _, n := range split(*clients) {
		k, err := strconv.Atoi(n)
		if err != nil {
			fail(fmt.Errorf("-clients: %w", err))
		}
		for _, m := range split(*modes) {
			if m != "sotw" && m != "delta" {
				fail(fmt.Errorf("-modes: unknown mode %q", m))
			}
			for _, o := range runs {
				run := cfg
				run.Clients, run.Delta, run.Server = k, m == "delta", o
				if o.Mode == "istiod" && *istiodIterations > 0 {
					run.Iterations = *istiodIterations
				}
				if run.WorkDir != "" {
					run.WorkDir = fmt.Sprintf("%s/%d-%s-%s", cfg.WorkDir, k, m, o.Name())
				}
				r, err := load.Run(ctx, run)
				if r != nil {
					results = append(results, r)
				}
				if err != nil {
					fmt.Fprintf(os.Stderr, "run %s %d clients %s: %v\n", o.Name(), k, m, err)
				}
				if ctx.Err() != nil {
					break
				}
			}
		}
	}
	fmt.Println()
	load.WriteSummary(os.Stdout, results)
	fmt.Println()
	load.WriteChanges(os.Stdout, results)
	if len(runs) > 1 {
		fmt.Println()
		load.WriteComparison(os.Stdout, results)
	}
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(results, "", "  ")
		if err := os.WriteFile(*jsonOut, b, 0o644); err != nil {
			fail(err)
		}
	}
}

// serverOptions are the servers -servers names, in order: sextant as base says (its
// -server mode), istiod as the oracle binary.
func serverOptions(base load.ServerOptions, servers, oracle string) ([]load.ServerOptions, error) {
	if servers == "" {
		if base.Mode == "istiod" {
			base.Binary = oracle
		}
		return []load.ServerOptions{base}, nil
	}
	var out []load.ServerOptions
	for _, name := range split(servers) {
		o := base
		switch name {
		case "sextant":
			if o.Mode == "istiod" {
				return nil, fmt.Errorf("-servers sextant with -server istiod: choose exec, inproc or addr for Sextant")
			}
		case "istiod":
			o.Mode, o.Binary = "istiod", oracle
		default:
			return nil, fmt.Errorf("-servers: unknown server %q (want sextant, istiod)", name)
		}
		out = append(out, o)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-servers: none given")
	}
	return out, nil
}

// defaultChanges are the changes every server measured can take: EndpointSlice edits
// only without istiod (the oracle reads Kubernetes objects once), ServiceEntry endpoint
// edits only with ServiceEntry services.
func defaultChanges(seServices bool, runs []load.ServerOptions) string {
	if seServices {
		return "vs,dr,se-eds"
	}
	for _, o := range runs {
		if o.Mode == "istiod" {
			return "vs,dr"
		}
	}
	return "vs,dr,eds"
}

func debounceText(d time.Duration) string {
	if d <= 0 {
		return "its default (PILOT_DEBOUNCE_AFTER or 100ms); -debounce 1ms compares like with like"
	}
	return d.String()
}

func split(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "adsload:", err)
	os.Exit(2)
}
