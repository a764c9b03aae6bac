package e2e

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/sextant-mesh/sextant/pilot/pkg/bootstrap"
	"github.com/sextant-mesh/sextant/pilot/pkg/config/kube/kubetest"
	"github.com/sextant-mesh/sextant/pilot/pkg/features"
	"github.com/sextant-mesh/sextant/pkg/log"
)

func TestMain(m *testing.M) {
	kubetest.Main(m)
}

// TestKubeSourceProxylessGRPC is TestProxylessGRPCFollowsVirtualService with the mesh
// created through a real kube-apiserver (envtest) instead of a directory: Sextant reads it
// with its controller-runtime reconcilers and grpc-go's xDS client does real RPCs.
func TestKubeSourceProxylessGRPC(t *testing.T) {
	api := kubetest.Shared()
	api.SkipUnlessRunning(t)
	c, err := ctrlclient.New(api.Config, ctrlclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	startBackend(t, fmt.Sprintf("127.0.0.1:%d", port), "v1")
	startBackend(t, fmt.Sprintf("127.0.0.2:%d", port), "v2")
	b, err := os.ReadFile("testdata/kube-mesh/istio.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var vs *unstructured.Unstructured
	for _, doc := range strings.Split(strings.ReplaceAll(string(b), "BACKEND_PORT", strconv.Itoa(port)), "\n---\n") {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatal(err)
		}
		if err := c.Create(t.Context(), u); err != nil {
			t.Fatalf("create %s: %v", u.GetName(), err)
		}
		t.Cleanup(func() { _ = c.Delete(t.Context(), u) })
		if u.GetKind() == "VirtualService" {
			vs = u
		}
	}

	f, _ := features.Parse(func(string) (string, bool) { return "", false })
	f.PodName = "istiod-e2e"
	s, err := bootstrap.New(bootstrap.Args{
		GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", MonitoringAddr: "127.0.0.1:0",
		Domain: "cluster.local", ClusterID: "Kubernetes", Kube: api.Config, ShutdownDuration: time.Second,
		Features: f, Log: log.Options{OutputLevel: "default:warn"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	cl := startClient(t, s.Addr("grpc"))

	split := cl.call(400, "")
	if split["v1"]+split["v2"] != 400 || split["v2"] < 40 || split["v2"] > 130 {
		t.Errorf("400 RPCs: %v, want about 80/20 between v1 and v2", split)
	}
	if r := cl.call(50, "end-user=jason"); r["v2"] != 50 {
		t.Errorf("end-user=jason: %v, want all v2", r)
	}
	if r := cl.call(20, "x-fault=abort"); r["error:"+codes.Unavailable.String()] != 20 {
		t.Errorf("x-fault=abort: %v, want 20 UNAVAILABLE", r)
	}

	// Flip the weights through the API server.
	if err := c.Get(t.Context(), ctrlclient.ObjectKeyFromObject(vs), vs); err != nil {
		t.Fatal(err)
	}
	routes, _, _ := unstructured.NestedSlice(vs.Object, "spec", "http")
	last := routes[len(routes)-1].(map[string]any)
	dests := last["route"].([]any)
	dests[0].(map[string]any)["weight"] = int64(0)
	dests[1].(map[string]any)["weight"] = int64(100)
	if err := unstructured.SetNestedSlice(vs.Object, routes, "spec", "http"); err != nil {
		t.Fatal(err)
	}
	edit := time.Now()
	if err := c.Update(t.Context(), vs); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if r := cl.call(20, ""); r["v2"] == 20 {
			t.Logf("split changed %v after the API update", time.Since(edit).Round(time.Millisecond))
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("split still %v 30s after the update", r)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
