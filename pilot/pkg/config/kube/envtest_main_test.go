package kube

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/sextant-mesh/sextant/pilot/pkg/config/kube/kubetest"
	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pkg/config"
)

// One kube-apiserver and etcd (kubetest.Shared, started by the first test that needs
// it) serve every envtest test of the package, with Istio's CRDs installed. Tests keep
// out of each other's way with namespaces of their own.
func TestMain(m *testing.M) {
	// controller-runtime logs some things through a global logger; tests log through
	// their own.
	ctrllog.SetLogger(logr.Discard())
	kubetest.Main(m)
}

// apiServerConfig returns the shared API server's config, or skips t.
func apiServerConfig(t testing.TB) *rest.Config {
	t.Helper()
	api := kubetest.Shared()
	api.SkipUnlessRunning(t)
	return api.Config
}

// needAPIServer skips t without a kube-apiserver, and returns a client of it.
func needAPIServer(t testing.TB) client.Client {
	t.Helper()
	c, err := client.New(apiServerConfig(t), client.Options{Scheme: kubeScheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// startSource starts a source on the API server; it stops with the test.
func startSource(t testing.TB, opts Options) (*Source, *model.Store, *changes) {
	t.Helper()
	store, ch := model.NewStore(), &changes{}
	if also := opts.OnChange; also != nil {
		opts.OnChange = func(m map[config.Key]struct{}) { ch.record(m); also(m) }
	} else {
		opts.OnChange = ch.record
	}
	if _, bench := t.(*testing.B); !bench && opts.Log.GetSink() == nil {
		opts.Log = testr.NewWithInterface(t, testr.Options{Verbosity: 1})
	}
	src, err := New(apiServerConfig(t), store, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		select {
		case <-src.Done():
		case <-time.After(30 * time.Second):
			t.Error("source did not stop")
		}
	})
	if err := src.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return src, store, ch
}

var uniqs atomic.Int64

// uniq returns a name no other test of this process uses, so that tests can run again
// (-count) on the shared API server, where namespaces are never really deleted.
func uniq(prefix string) string { return fmt.Sprintf("%s-%d", prefix, uniqs.Add(1)) }

// createNamespace creates a namespace for the test.
func createNamespace(t testing.TB, c client.Client, name string, labels map[string]string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if err := c.Create(t.Context(), ns); err != nil {
		t.Fatal(err)
	}
}

// createIn creates copies of objs in namespace ns (cluster-scoped ones get ns as a name
// prefix), and returns the copies.
func createIn(t testing.TB, c client.Client, ns string, objs ...client.Object) []client.Object {
	t.Helper()
	var out []client.Object
	for _, o := range objs {
		o = o.DeepCopyObject().(client.Object)
		if o.GetNamespace() == "" {
			o.SetName(ns + "-" + o.GetName())
		} else {
			o.SetNamespace(ns)
		}
		if err := c.Create(t.Context(), o); err != nil {
			t.Fatalf("creating %s %s: %v", o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), err)
		}
		out = append(out, o)
	}
	return out
}

// eventually polls cond for up to 30 s: watches on freshly installed CRDs can take a few
// seconds to deliver, and the machine is shared.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// update re-reads o, applies edit and writes it back, retrying on conflicts.
func update(t testing.TB, c client.Client, o client.Object, edit func(client.Object)) {
	t.Helper()
	for range 5 {
		if err := c.Get(t.Context(), client.ObjectKeyFromObject(o), o); err != nil {
			t.Fatal(err)
		}
		edit(o)
		err := c.Update(t.Context(), o)
		if err == nil {
			return
		}
		if !apierrors.IsConflict(err) {
			t.Fatal(err)
		}
	}
	t.Fatalf("updating %s: too many conflicts", o.GetName())
}
