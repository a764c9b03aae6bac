package kube

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/mesh"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

// The benchmarks measure what issue 4 asks for, on envtest's kube-apiserver:
//
//	KUBEBUILDER_ASSETS=... go test -run '^$' -bench APIServer -benchtime 1x ./pilot/pkg/config/kube/
//
// SEXTANT_BENCH_SERVICEENTRIES (10000) and SEXTANT_BENCH_OBJECTS_PER_NAMESPACE (100)
// size them.

// BenchmarkAPIServerIngestServiceEntries creates ServiceEntries through the API server
// while a source runs, and measures until the last one is in the Store, with one
// reconcile worker per kind and with the default (GOMAXPROCS). It reports the time the
// creates took (create-s), the time until the Store held them all (ingest-s), the time
// to build a PushContext from that Store (pushcontext-s, the full push that follows),
// and the time a second source, whose discoverySelectors do not select the namespace
// yet, takes to hold them all once the namespace is labelled (select-s: every object
// goes through the reconcilers at once, so it shows what the workers add).
func BenchmarkAPIServerIngestServiceEntries(b *testing.B) {
	n := benchSize("SEXTANT_BENCH_SERVICEENTRIES", 10000)
	for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			for i := range b.N {
				ingest(b, n, workers, fmt.Sprintf("bench-se-%d-%d", workers, i))
			}
		})
	}
}

func ingest(b *testing.B, n, workers int, ns string) {
	b.StopTimer()
	c := fastClient(b)
	createNamespace(b, c, ns, nil)
	var seen atomic.Int64
	_, store, _ := startSource(b, Options{
		SystemNamespace: ns + "-system", WatchNamespace: ns, MaxConcurrentReconciles: workers, Log: logr.Discard(),
		OnChange: func(m map[config.Key]struct{}) {
			for k := range m {
				if k.Kind == schema.ServiceEntry {
					seen.Add(1)
				}
			}
		},
	})
	template := find(b, loadObjects(b, "mesh.yaml"), "ServiceEntry", "payments").(*unstructured.Unstructured)

	b.StartTimer()
	start := time.Now()
	parallel(b, n, func(i int) client.Object {
		se := template.DeepCopy()
		se.SetNamespace(ns)
		se.SetName(fmt.Sprintf("se-%05d", i))
		_ = unstructured.SetNestedStringSlice(se.Object, []string{fmt.Sprintf("svc-%05d.example.com", i)}, "spec", "hosts")
		return se
	})
	created := time.Since(start)
	deadline := time.Now().Add(10 * time.Minute)
	for seen.Load() < int64(n) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	ingested := time.Since(start)
	b.StopTimer()
	if got := seen.Load(); got < int64(n) {
		b.Fatalf("%d of %d ServiceEntries reached the store", got, n)
	}
	pushStart := time.Now()
	pc := model.NewPushContext(store, mesh.Default(), model.DefaultOptions())
	pushed := time.Since(pushStart)
	if got := len(pc.Services()); got < n {
		b.Errorf("PushContext has %d services, want %d", got, n)
	}
	b.ReportMetric(created.Seconds(), "create-s")
	b.ReportMetric(ingested.Seconds(), "ingest-s")
	b.ReportMetric(pushed.Seconds(), "pushcontext-s")
	b.ReportMetric(selectNamespace(b, c, ns, n, workers).Seconds(), "select-s")
	// Later benchmarks watch every namespace: leave nothing behind.
	if err := c.DeleteAllOf(b.Context(), template.DeepCopy(), client.InNamespace(ns)); err != nil {
		b.Error(err)
	}
}

// selectNamespace starts a source that does not select ns, labels ns so that it does,
// and returns how long the source took to hold its n ServiceEntries.
func selectNamespace(b *testing.B, c client.Client, ns string, n, workers int) time.Duration {
	m := mesh.Default()
	m.DiscoverySelectors = []*meshv1alpha1.LabelSelector{{MatchLabels: map[string]string{"sextant-bench": ns}}}
	var seen atomic.Int64
	startSource(b, Options{
		SystemNamespace: ns + "-system", Mesh: m, MaxConcurrentReconciles: workers, Log: logr.Discard(),
		OnChange: func(m map[config.Key]struct{}) {
			for k := range m {
				if k.Kind == schema.ServiceEntry && k.Namespace == ns {
					seen.Add(1)
				}
			}
		},
	})
	start := time.Now()
	update(b, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, func(o client.Object) {
		o.SetLabels(map[string]string{"sextant-bench": ns})
	})
	deadline := time.Now().Add(10 * time.Minute)
	for seen.Load() < int64(n) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := seen.Load(); got < int64(n) {
		b.Fatalf("%d of %d ServiceEntries reached the store after selecting the namespace", got, n)
	}
	return time.Since(start)
}

// BenchmarkAPIServerInformerMemory starts a source on 50 namespaces of objects, with
// discoverySelectors selecting 5 of them (10%) and with none (all), and reports the heap
// the source holds once synced: caches plus Store.
func BenchmarkAPIServerInformerMemory(b *testing.B) {
	perNS := benchSize("SEXTANT_BENCH_OBJECTS_PER_NAMESPACE", 100)
	populateOnce.Do(func() { populate(b, 50, 5, perNS) })
	selected := mesh.Default()
	selected.DiscoverySelectors = []*meshv1alpha1.LabelSelector{{MatchLabels: map[string]string{"sextant-bench": "selected"}}}
	for _, tt := range []struct {
		name string
		mesh *meshv1alpha1.MeshConfig
	}{{"selected=10%", selected}, {"selected=all", mesh.Default()}} {
		b.Run(tt.name, func(b *testing.B) {
			for range b.N {
				heap, objects := sourceHeap(b, tt.mesh)
				b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
				b.ReportMetric(float64(objects), "objects")
			}
		})
	}
}

var populateOnce sync.Once

// populate creates namespaces bench-mem-NN, the first selected of them labelled
// sextant-bench=selected, each with perNS objects: ServiceEntries, Services, Pods and
// DestinationRules in equal parts.
func populate(b *testing.B, namespaces, selected, perNS int) {
	c := fastClient(b)
	fixtures := loadObjects(b, "mesh.yaml")
	kinds := []client.Object{
		find(b, fixtures, "ServiceEntry", "payments"), find(b, fixtures, "Service", "reviews"),
		find(b, fixtures, "Pod", "reviews-v1-0"), find(b, fixtures, "DestinationRule", "reviews"),
	}
	for i := range namespaces {
		ns := fmt.Sprintf("bench-mem-%02d", i)
		var labels map[string]string
		if i < selected {
			labels = map[string]string{"sextant-bench": "selected"}
		}
		createNamespace(b, c, ns, labels)
		parallel(b, perNS, func(j int) client.Object {
			o := kinds[j%len(kinds)].DeepCopyObject().(client.Object)
			o.SetNamespace(ns)
			o.SetName(fmt.Sprintf("%s-%04d", o.GetName(), j))
			return o
		})
	}
}

// sourceHeap starts a source, and returns the heap it holds once synced (measured as
// what is freed when it stops) and how many objects it put in the Store.
func sourceHeap(b *testing.B, m *meshv1alpha1.MeshConfig) (uint64, int) {
	goroutines := runtime.NumGoroutine()
	running, objects := runSource(b, m)
	// The caches stop asynchronously: wait for their goroutines before measuring.
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > goroutines && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	var stopped runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&stopped)
	return running - min(stopped.HeapAlloc, running), objects
}

// runSource starts a source, measures the heap once it has synced, and stops it.
func runSource(b *testing.B, m *meshv1alpha1.MeshConfig) (heap uint64, objects int) {
	store := model.NewStore()
	src, err := New(apiServerConfig(b), store, Options{SystemNamespace: "bench-mem-system", Mesh: m, Log: logr.Discard()})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); <-src.Done() }()
	b.StartTimer()
	if err := src.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	var running runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&running)
	return running.HeapAlloc, len(store.Keys())
}

// fastClient is a client without client-side rate limits, to create objects quickly.
func fastClient(b testing.TB) client.Client {
	cfg := rest.CopyConfig(apiServerConfig(b))
	cfg.QPS, cfg.Burst = -1, 0
	c, err := client.New(cfg, client.Options{Scheme: kubeScheme})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// parallel creates n objects made by obj with 32 concurrent requests.
func parallel(b testing.TB, n int, obj func(i int) client.Object) {
	c := fastClient(b)
	var wg sync.WaitGroup
	next := atomic.Int64{}
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				if err := c.Create(b.Context(), obj(i)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

func benchSize(env string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(env)); err == nil && n > 0 {
		return n
	}
	return def
}
