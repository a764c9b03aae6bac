// istiodbench measures how long upstream istiod (istio.io/istio 1.31.1, linked in-process)
// takes to build its PushContext for a generated mesh directory: a cold build (what a full,
// forced push does) and the incremental rebuild istiod does after one VirtualService,
// EnvoyFilter, DestinationRule or ServiceEntry change. It is a measuring stick for Sextant's
// own benchmarks, never a dependency of Sextant.
//
// usage: istiodbench -case DIR [-n 5] [-json FILE]
//
// DIR is read as the oracle (../../../shared/oracle) reads a case: every *.yaml except
// proxy.yaml, split into Istio config and Kubernetes objects; mesh.yaml, if any, is the
// MeshConfig. Both go into istio's fake discovery server (pilot/test/xds), the istiod
// DiscoveryServer with in-memory config and Kubernetes stores.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	networking "istio.io/api/networking/v1alpha3"
	"sigs.k8s.io/yaml"

	"istio.io/istio/pilot/pkg/features"
	"istio.io/istio/pilot/pkg/model"
	xdsfake "istio.io/istio/pilot/test/xds"
	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/config/mesh"
	"istio.io/istio/pkg/config/schema/kind"
	"istio.io/istio/pkg/log"
	"istio.io/istio/pkg/test"
	"istio.io/istio/pkg/util/sets"
)

var (
	caseDir  = flag.String("case", "", "mesh directory (every *.yaml but proxy.yaml is input; mesh.yaml is MeshConfig)")
	runs     = flag.Int("n", 5, "runs of each measurement")
	jsonOut  = flag.String("json", "", "also write the figures as JSON to this file")
	syncWait = flag.Duration("sync-timeout", 2*time.Minute, "how long to wait for the server's own push after an edit")
	eager    = flag.Bool("eager-sidecars", false, "compute every Sidecar's scope inside InitContext (re-runs itself with "+
		"ENABLE_LAZY_SIDECAR_EVALUATION=false); by default istiod defers that to the first proxy that uses the scope")
)

// loadCase splits the YAML documents of dir into Istio config and Kubernetes objects, as the
// oracle's loadCase does, and returns mesh.yaml's content (if any).
func loadCase(dir string) (istioYAML, k8sYAML, meshYAML string, err error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return "", "", "", err
	}
	if len(files) == 0 {
		return "", "", "", fmt.Errorf("%s: no *.yaml files", dir)
	}
	sort.Strings(files)
	sep := regexp.MustCompile(`(?m)^---\s*$`)
	var istioDocs, k8sDocs []string
	for _, f := range files {
		switch filepath.Base(f) {
		case "proxy.yaml":
			continue
		case "mesh.yaml":
			b, err := os.ReadFile(f)
			if err != nil {
				return "", "", "", err
			}
			meshYAML = string(b)
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return "", "", "", err
		}
		for _, doc := range sep.Split(string(b), -1) {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			var head struct {
				APIVersion string `json:"apiVersion"`
			}
			if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
				return "", "", "", fmt.Errorf("%s: %w", f, err)
			}
			if strings.Contains(head.APIVersion, "istio.io/") || strings.HasPrefix(head.APIVersion, "gateway.networking.k8s.io/") {
				istioDocs = append(istioDocs, doc)
			} else {
				k8sDocs = append(k8sDocs, doc)
			}
		}
	}
	return strings.Join(istioDocs, "\n---\n"), strings.Join(k8sDocs, "\n---\n"), meshYAML, nil
}

// Stat is one measurement's figures. Runs are the InitContext wall times in ms.
type Stat struct {
	Object   string    `json:"object,omitempty"`
	Edit     string    `json:"edit,omitempty"`
	MinMs    float64   `json:"min_ms"`
	MedianMs float64   `json:"median_ms"`
	AllocMB  float64   `json:"alloc_mb"` // median TotalAlloc delta over the InitContext call
	RunsMs   []float64 `json:"runs_ms"`
}

// Result is the -json output; a nil measurement (JSON null) was skipped (no such object).
type Result struct {
	Case      string         `json:"case"`
	Istio     string         `json:"istio"`
	N         int            `json:"n"`
	GoMaxProc int            `json:"gomaxprocs"`
	LazySC    bool           `json:"lazy_sidecar_evaluation"`
	Counts    map[string]int `json:"counts"`
	LoadMs    float64        `json:"load_ms"`
	SetupMs   float64        `json:"setup_ms"`
	Cold      *Stat          `json:"cold"`
	VS        *Stat          `json:"vs"`
	EF        *Stat          `json:"ef"`
	DR        *Stat          `json:"dr"`
	SE        *Stat          `json:"se"`
	SEEDS     *Stat          `json:"se_eds"`
	PeakRSSMB float64        `json:"peak_rss_mb"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func summarize(times []time.Duration, allocs []uint64) *Stat {
	st := &Stat{}
	t := append([]time.Duration(nil), times...)
	sort.Slice(t, func(i, j int) bool { return t[i] < t[j] })
	a := append([]uint64(nil), allocs...)
	sort.Slice(a, func(i, j int) bool { return a[i] < a[j] })
	st.MinMs = ms(t[0])
	st.MedianMs = ms(t[len(t)/2])
	if len(t)%2 == 0 {
		st.MedianMs = ms((t[len(t)/2-1] + t[len(t)/2]) / 2)
	}
	st.AllocMB = float64(a[len(a)/2]) / (1 << 20)
	for _, d := range times {
		st.RunsMs = append(st.RunsMs, ms(d))
	}
	return st
}

// timeInit times one InitContext call after a GC, with the bytes allocated during it.
func timeInit(env *model.Environment, jwt *model.JwksResolver, prev *model.PushContext, req *model.PushRequest) (time.Duration, uint64) {
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	t0 := time.Now()
	pc := model.NewPushContext()
	pc.JwtKeyResolver = jwt // as DiscoveryServer.initPushContext does
	pc.InitContext(env, prev, req)
	d := time.Since(t0)
	runtime.ReadMemStats(&m1)
	runtime.KeepAlive(pc)
	return d, m1.TotalAlloc - m0.TotalAlloc
}

// bench holds the fake server and what the measurements share.
type bench struct {
	t test.Failer
	s *xdsfake.FakeDiscoveryServer
}

// gvkOf finds the store's GroupVersionKind for an Istio kind name.
func (b *bench) gvkOf(k string) (config.GroupVersionKind, bool) {
	for _, sch := range b.s.Store().Schemas().All() {
		if sch.Kind() == k {
			return sch.GroupVersionKind(), true
		}
	}
	return config.GroupVersionKind{}, false
}

func (b *bench) count(k string) int {
	g, ok := b.gvkOf(k)
	if !ok {
		return 0
	}
	return len(b.s.Store().List(g, ""))
}

// pick returns the first object (by name) of kind k in the last namespace (alphabetically)
// that has one, and whether there is any.
func (b *bench) pick(k string) (config.Config, bool) {
	g, ok := b.gvkOf(k)
	if !ok {
		return config.Config{}, false
	}
	all := b.s.Store().List(g, "")
	if len(all) == 0 {
		return config.Config{}, false
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].Namespace != all[j].Namespace {
			return all[i].Namespace > all[j].Namespace
		}
		return all[i].Name < all[j].Name
	})
	return all[0], true
}

// update writes an edited copy of the current stored object and waits until the fake
// server has received and committed the push(es) it triggers, so that its own InitContext
// does not run concurrently with the timed one.
func (b *bench) update(c config.Config, edit func(c *config.Config)) {
	cur := b.s.Store().Get(c.GroupVersionKind, c.Name, c.Namespace)
	if cur == nil {
		b.t.Fatalf("%s %s/%s vanished from the store", c.GroupVersionKind.Kind, c.Namespace, c.Name)
	}
	next := cur.DeepCopy()
	edit(&next)
	d := b.s.Discovery
	before := d.InboundUpdates.Load()
	if _, err := b.s.Store().Update(next); err != nil {
		b.t.Fatalf("update %s %s/%s: %v", c.GroupVersionKind.Kind, c.Namespace, c.Name, err)
	}
	deadline := time.Now().Add(*syncWait)
	stableSince := time.Time{}
	last := before
	for time.Now().Before(deadline) {
		in, done := d.InboundUpdates.Load(), d.CommittedUpdates.Load()
		if in != last {
			last, stableSince = in, time.Time{}
		}
		if in > before && done >= in {
			if stableSince.IsZero() {
				stableSince = time.Now()
			} else if time.Since(stableSince) >= 100*time.Millisecond {
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	fmt.Fprintf(os.Stderr, "istiodbench: warning: no settled push from the server within %v after editing %s %s/%s (inbound %d -> %d, committed %d)\n",
		*syncWait, c.GroupVersionKind.Kind, c.Namespace, c.Name, before, d.InboundUpdates.Load(), d.CommittedUpdates.Load())
}

// incremental edits the object n times and times, after each edit, the PushContext rebuild
// istiod does for it: InitContext(env, previous global PushContext, request).
func (b *bench) incremental(n int, c config.Config, editName string, edit func(c *config.Config, i int), keys func(c config.Config) []model.ConfigKey, reason model.TriggerReason) *Stat {
	env := b.s.Env()
	var times []time.Duration
	var allocs []uint64
	for i := 0; i < n; i++ {
		prev := env.PushContext() // the global PushContext before the change, as in DiscoveryServer.Push
		b.update(c, func(c *config.Config) { edit(c, i) })
		cur := b.s.Store().Get(c.GroupVersionKind, c.Name, c.Namespace)
		req := &model.PushRequest{
			ConfigsUpdated: sets.New(keys(*cur)...),
			Reason:         model.NewReasonStats(reason),
		}
		d, a := timeInit(env, b.s.Discovery.JwtKeyResolver, prev, req)
		times, allocs = append(times, d), append(allocs, a)
	}
	st := summarize(times, allocs)
	st.Object = c.Namespace + "/" + c.Name
	st.Edit = editName
	return st
}

func configKey(k kind.Kind) func(c config.Config) []model.ConfigKey {
	return func(c config.Config) []model.ConfigKey {
		return []model.ConfigKey{{Kind: k, Name: c.Name, Namespace: c.Namespace}}
	}
}

// seHostKeys is what istiod's ServiceEntry controller sends for a changed service: one
// ConfigKey per host, named by hostname (serviceentry.makeConfigKey).
func seHostKeys(k kind.Kind) func(c config.Config) []model.ConfigKey {
	return func(c config.Config) []model.ConfigKey {
		var out []model.ConfigKey
		for _, h := range c.Spec.(*networking.ServiceEntry).GetHosts() {
			out = append(out, model.ConfigKey{Kind: k, Name: h, Namespace: c.Namespace})
		}
		return out
	}
}

func peakRSSMB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

func main() {
	flag.Parse()
	if *caseDir == "" || *runs < 1 {
		fmt.Fprintln(os.Stderr, "usage: istiodbench -case DIR [-n 5] [-json FILE]")
		os.Exit(2)
	}
	if *eager && features.EnableLazySidecarEvaluation {
		// istio reads its feature flags from the environment at package initialisation.
		exe, err := os.Executable()
		if err == nil {
			err = syscall.Exec(exe, os.Args, append(os.Environ(), "ENABLE_LAZY_SIDECAR_EVALUATION=false"))
		}
		fmt.Fprintln(os.Stderr, "istiodbench: re-exec for -eager-sidecars:", err)
		os.Exit(1)
	}
	lo := log.DefaultOptions()
	lo.OutputPaths = []string{"stderr"} // istio logs to stdout by default
	lo.SetDefaultOutputLevel("all", log.WarnLevel)
	if err := log.Configure(lo); err != nil {
		panic(err)
	}

	res := &Result{Case: *caseDir, Istio: "1.31.1", N: *runs, GoMaxProc: runtime.GOMAXPROCS(0),
		LazySC: features.EnableLazySidecarEvaluation}
	err := test.Wrap(func(t test.Failer) {
		t0 := time.Now()
		istioYAML, k8sYAML, meshYAML, err := loadCase(*caseDir)
		if err != nil {
			t.Fatal(err)
		}
		res.LoadMs = ms(time.Since(t0))
		fo := xdsfake.FakeOptions{ConfigString: istioYAML, KubernetesObjectString: k8sYAML}
		if meshYAML != "" {
			m, err := mesh.ApplyMeshConfigDefaults(meshYAML)
			if err != nil {
				t.Fatalf("mesh.yaml: %v", err)
			}
			fo.MeshConfig = m
		}
		istioYAML, k8sYAML = "", "" // let the GC have them
		fmt.Fprintf(os.Stderr, "istiodbench: starting the fake discovery server for %s ...\n", *caseDir)
		t1 := time.Now()
		s := xdsfake.NewFakeDiscoveryServer(t, fo)
		s.EnsureSynced(t)
		res.SetupMs = ms(time.Since(t1))
		b := &bench{t: t, s: s}
		env := s.Env()

		res.Counts = map[string]int{"services": len(env.Services())}
		for _, k := range []string{"ServiceEntry", "VirtualService", "DestinationRule", "EnvoyFilter", "Sidecar", "Gateway"} {
			res.Counts[k] = b.count(k)
		}
		fmt.Fprintf(os.Stderr, "istiodbench: setup %.0f ms (load %.0f ms); counts %v\n", res.SetupMs, res.LoadMs, res.Counts)

		// a. cold: a new PushContext from nothing, as a forced (full) push or startup builds it.
		var times []time.Duration
		var allocs []uint64
		for i := 0; i < *runs; i++ {
			d, a := timeInit(env, s.Discovery.JwtKeyResolver, nil, nil)
			times, allocs = append(times, d), append(allocs, a)
		}
		res.Cold = summarize(times, allocs)
		fmt.Fprintf(os.Stderr, "istiodbench: cold done (median %.1f ms)\n", res.Cold.MedianMs)

		// b-e. one changed object of each kind, istiod's incremental path (updateContext).
		if c, ok := b.pick("VirtualService"); ok {
			res.VS = b.incremental(*runs, c, "set a request header on the first HTTP route", func(c *config.Config, i int) {
				vs := c.Spec.(*networking.VirtualService)
				if len(vs.Http) == 0 {
					setLabel(c, i) // no HTTP route to edit: a metadata change still pushes
					return
				}
				h := vs.Http[0]
				if h.Headers == nil {
					h.Headers = &networking.Headers{}
				}
				if h.Headers.Request == nil {
					h.Headers.Request = &networking.Headers_HeaderOperations{}
				}
				if h.Headers.Request.Set == nil {
					h.Headers.Request.Set = map[string]string{}
				}
				h.Headers.Request.Set["x-istiodbench"] = strconv.Itoa(i + 1)
			}, configKey(kind.VirtualService), model.ConfigUpdate)
			fmt.Fprintf(os.Stderr, "istiodbench: vs done (%s)\n", res.VS.Object)
		}
		if c, ok := b.pick("EnvoyFilter"); ok {
			res.EF = b.incremental(*runs, c, "change priority", func(c *config.Config, i int) {
				ef := c.Spec.(*networking.EnvoyFilter)
				ef.Priority = int32(1000 + i)
			}, configKey(kind.EnvoyFilter), model.ConfigUpdate)
			fmt.Fprintf(os.Stderr, "istiodbench: ef done (%s)\n", res.EF.Object)
		}
		if c, ok := b.pick("DestinationRule"); ok {
			res.DR = b.incremental(*runs, c, "change connectionPool.http.http2MaxRequests", func(c *config.Config, i int) {
				dr := c.Spec.(*networking.DestinationRule)
				if dr.TrafficPolicy == nil {
					dr.TrafficPolicy = &networking.TrafficPolicy{}
				}
				if dr.TrafficPolicy.ConnectionPool == nil {
					dr.TrafficPolicy.ConnectionPool = &networking.ConnectionPoolSettings{}
				}
				if dr.TrafficPolicy.ConnectionPool.Http == nil {
					dr.TrafficPolicy.ConnectionPool.Http = &networking.ConnectionPoolSettings_HTTPSettings{}
				}
				dr.TrafficPolicy.ConnectionPool.Http.Http2MaxRequests = int32(1000 + i)
			}, configKey(kind.DestinationRule), model.ConfigUpdate)
			fmt.Fprintf(os.Stderr, "istiodbench: dr done (%s)\n", res.DR.Object)
		}
		if c, ok := b.pick("ServiceEntry"); ok {
			// A label change alters the Service istiod derives (its attributes), so the
			// ServiceEntry controller asks for a push of kind ServiceEntry, keyed by host:
			// istiod rebuilds the service registry and the sidecar scopes.
			res.SE = b.incremental(*runs, c, "change a metadata label", func(c *config.Config, i int) {
				setLabel(c, i)
			}, seHostKeys(kind.ServiceEntry), model.ServiceUpdate)
			fmt.Fprintf(os.Stderr, "istiodbench: se done (%s)\n", res.SE.Object)
			// A changed endpoint address alone leaves the Service as it is: the controller
			// only updates the endpoint shards (EDSUpdate), which asks for a push of kind
			// Endpoints. That push still runs InitContext, which then rebuilds nothing.
			if len(c.Spec.(*networking.ServiceEntry).GetEndpoints()) > 0 {
				res.SEEDS = b.incremental(*runs, c, "change the last endpoint's address", func(c *config.Config, i int) {
					eps := c.Spec.(*networking.ServiceEntry).Endpoints
					eps[len(eps)-1].Address = fmt.Sprintf("198.18.%d.%d", (i/250)%250, i%250+1)
				}, seHostKeys(kind.Endpoints), model.EndpointUpdate)
				fmt.Fprintf(os.Stderr, "istiodbench: se-eds done (%s)\n", res.SEEDS.Object)
			}
		}
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "istiodbench failed:", err)
		os.Exit(1)
	}
	res.PeakRSSMB = peakRSSMB()
	printTable(res)
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "istiodbench:", err)
			os.Exit(1)
		}
	}
}

func setLabel(c *config.Config, i int) {
	if c.Labels == nil {
		c.Labels = map[string]string{}
	}
	c.Labels["istiodbench"] = strconv.Itoa(i + 1)
}

func printTable(r *Result) {
	fmt.Printf("upstream istiod %s PushContext build, case %s, n=%d, GOMAXPROCS=%d, lazy sidecar scopes=%v\n",
		r.Istio, r.Case, r.N, r.GoMaxProc, r.LazySC)
	keys := make([]string, 0, len(r.Counts))
	for k := range r.Counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var cs []string
	for _, k := range keys {
		cs = append(cs, fmt.Sprintf("%s=%d", k, r.Counts[k]))
	}
	fmt.Printf("objects: %s\n", strings.Join(cs, " "))
	fmt.Printf("setup (fake discovery server incl. first push): %.0f ms; reading the YAML: %.0f ms\n\n", r.SetupMs, r.LoadMs)
	fmt.Printf("%-8s %-26s %10s %10s %10s  %s\n", "build", "object", "min ms", "median ms", "alloc MB", "edit")
	row := func(name string, st *Stat) {
		if st == nil {
			fmt.Printf("%-8s %-26s %10s %10s %10s\n", name, "-", "n/a", "n/a", "n/a")
			return
		}
		obj := st.Object
		if obj == "" {
			obj = "-"
		}
		fmt.Printf("%-8s %-26s %10.1f %10.1f %10.1f  %s\n", name, obj, st.MinMs, st.MedianMs, st.AllocMB, st.Edit)
	}
	row("cold", r.Cold)
	row("vs", r.VS)
	row("ef", r.EF)
	row("dr", r.DR)
	row("se", r.SE)
	row("se-eds", r.SEEDS)
	fmt.Printf("\npeak RSS (VmHWM): %.0f MB\n", r.PeakRSSMB)
}
