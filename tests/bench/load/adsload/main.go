// Command adsload measures config change -> every affected proxy ACKed, against Sextant
// on a generated mesh (see package load). For each client count and stream mode it
// writes the mesh to a fresh directory, starts the server on it (a child pilot-discovery
// process by default, so its CPU and memory are its own), syncs the clients, applies each
// change -iterations times and prints two tables: per run (sync, resources per client,
// memory, CPU) and per change (latency percentiles over affected clients, responses and
// bytes per change, the server's pushes, generations and CPU per change).
//
//	go build -o bin/pilot-discovery ./pilot/cmd/pilot-discovery
//	go run ./tests/bench/load/adsload -clients 100,1000 -services 1000
//
// PILOT_* variables in the environment reach the server (e.g. PILOT_DEBOUNCE_AFTER).
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
		changes = flag.String("changes", "vs,dr,eds", "changes to apply, in order: vs (VirtualService), dr (DestinationRule), eds (EndpointSlice)")
		jsonOut = flag.String("json", "", "also write the results as JSON to this file")
		total   = flag.Duration("max-duration", 90*time.Minute, "give up after this long in all")
		verbose = flag.Bool("v", true, "report progress on stderr")
		memProf = flag.String("memprofile", "", "write a heap profile of this process (after a GC) once the (last run's) clients are synced: the server's too with -server inproc")
		cpuProf = flag.String("cpuprofile", "", "write a CPU profile of this process from the end of the (last run's) sync to the end: the server's changes too with -server inproc")
	)
	flag.IntVar(&cfg.Spec.Services, "services", 1000, "Kubernetes services")
	flag.IntVar(&cfg.Spec.Namespaces, "namespaces", 50, "namespaces")
	flag.IntVar(&cfg.Spec.EndpointsPerService, "endpoints", 2, "pods per service")
	flag.IntVar(&cfg.Spec.VirtualServicePercent, "vs-percent", 20, "share of services with a VirtualService")
	flag.IntVar(&cfg.Spec.DestinationRulePercent, "dr-percent", 20, "share of services with a DestinationRule")
	flag.IntVar(&cfg.Spec.ServiceEntries, "service-entries", -1, "ServiceEntries (default services/10)")
	flag.IntVar(&cfg.Isolated, "isolated", -1, "namespaces whose proxies import only their own namespace (default namespaces/2)")
	flag.IntVar(&cfg.Iterations, "iterations", 5, "times each change is applied")
	flag.StringVar(&cfg.Server.Mode, "server", "exec", "exec (child pilot-discovery), inproc (this process) or addr (running at -addr)")
	flag.StringVar(&cfg.Server.Binary, "sextant", "bin/pilot-discovery", "pilot-discovery binary, for -server exec")
	flag.StringVar(&cfg.Server.Addr, "addr", "", "xDS address of a running server (127.0.0.0/8 only), for -server addr; it must watch -workdir/mesh")
	flag.StringVar(&cfg.Server.MetricsURL, "metrics-url", "", "its /metrics URL, for -server addr")
	flag.IntVar(&cfg.Server.PID, "pid", 0, "its process id (CPU and memory), for -server addr")
	flag.DurationVar(&cfg.Server.Debounce, "debounce", 0, "PILOT_DEBOUNCE_AFTER for the server (default: the server's, 100ms)")
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
	if cfg.Isolated < 0 {
		cfg.Isolated = cfg.Spec.Namespaces / 2
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

	fmt.Printf("mesh: %d services in %d namespaces (%d isolated), %d pods/service, %d%% VS, %d%% DR, %d ServiceEntries; %d iterations per change; server %s\n",
		cfg.Spec.Services, cfg.Spec.Namespaces, cfg.Isolated, cfg.Spec.EndpointsPerService, cfg.Spec.VirtualServicePercent,
		cfg.Spec.DestinationRulePercent, cfg.Spec.ServiceEntries, cfg.Iterations, cfg.Server.Mode)
	var results []*load.Result
	for _, n := range split(*clients) {
		k, err := strconv.Atoi(n)
		if err != nil {
			fail(fmt.Errorf("-clients: %w", err))
		}
		for _, m := range split(*modes) {
			run := cfg
			run.Clients, run.Delta = k, m == "delta"
			if m != "sotw" && m != "delta" {
				fail(fmt.Errorf("-modes: unknown mode %q", m))
			}
			if run.WorkDir != "" {
				run.WorkDir = fmt.Sprintf("%s/%d-%s", cfg.WorkDir, k, m)
			}
			r, err := load.Run(ctx, run)
			if r != nil {
				results = append(results, r)
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "run %d clients %s: %v\n", k, m, err)
				break
			}
		}
	}
	fmt.Println()
	load.WriteSummary(os.Stdout, results)
	fmt.Println()
	load.WriteChanges(os.Stdout, results)
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(results, "", "  ")
		if err := os.WriteFile(*jsonOut, b, 0o644); err != nil {
			fail(err)
		}
	}
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
