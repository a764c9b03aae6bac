package bootstrap

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sextant-mesh/sextant/pilot/pkg/features"
	"github.com/sextant-mesh/sextant/pilot/pkg/xds"
	"github.com/sextant-mesh/sextant/pkg/log"
)

// copyDir copies the sample mesh so the test can edit it.
func copyDir(t *testing.T, from string) string {
	t.Helper()
	dir := t.TempDir()
	files, _ := filepath.Glob(filepath.Join(from, "*.yaml"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func startServer(t *testing.T, dir string) *Server {
	t.Helper()
	f, _ := features.Parse(func(string) (string, bool) { return "", false })
	f.DebounceAfter, f.PodName = 10*time.Millisecond, "istiod-test-0"
	s, err := New(Args{
		GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", MonitoringAddr: "127.0.0.1:0",
		Domain: "cluster.local", ClusterID: "Kubernetes", ConfigDir: dir,
		ShutdownDuration: time.Second, Features: f, Log: log.Options{OutputLevel: "default:none"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}

const productpage = "sidecar~127.1.1.10~productpage-v1-d2e5d6db07-94dd5.default~default.svc.cluster.local"

func TestServesTheConfigDirAndReloadsIt(t *testing.T) {
	dir := copyDir(t, "../../../examples/bookinfo")
	s := startServer(t, dir)
	get(t, "http://"+s.Addr("http")+"/ready")

	conn, err := grpc.NewClient(s.Addr("grpc"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: productpage}, TypeUrl: xds.ClusterType}); err != nil {
		t.Fatal(err)
	}
	first, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if !hasCluster(t, first, "outbound|9080|v1|reviews.default.svc.cluster.local") {
		t.Fatalf("no reviews v1 subset cluster in %d clusters", len(first.Resources))
	}
	if !strings.Contains(first.GetControlPlane().GetIdentifier(), `"ID":"istiod-test-0"`) {
		t.Errorf("control plane identifier = %s", first.GetControlPlane().GetIdentifier())
	}
	_ = st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: xds.ClusterType, ResponseNonce: first.Nonce})

	// syncz (HTTP, istiod's format) lists the proxy as acked.
	waitFor(t, func() bool {
		var sz []map[string]string
		_ = json.Unmarshal([]byte(get(t, "http://"+s.Addr("http")+"/debug/syncz")), &sz)
		return len(sz) == 1 && sz[0]["cluster_acked"] == first.Nonce
	})
	if m := get(t, "http://"+s.Addr("monitoring")+"/metrics"); !strings.Contains(m, "pilot_xds 1") || !strings.Contains(m, `pilot_xds_pushes{type="cds"}`) {
		t.Errorf("metrics lack pilot_xds / pilot_xds_pushes:\n%s", m)
	} else if !strings.Contains(m, "go_goroutines ") || !strings.Contains(m, "process_resident_memory_bytes ") {
		t.Errorf("metrics lack the Go and process collectors istiod exports (go_goroutines, process_resident_memory_bytes)")
	}

	// Removing the DestinationRule's subsets from the directory pushes new clusters.
	b, _ := os.ReadFile(filepath.Join(dir, "istio.yaml"))
	edited := strings.Replace(string(b), "  - name: v3\n    labels: {version: v3}\n", "", 1)
	if err := os.WriteFile(filepath.Join(dir, "istio.yaml"), []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	next, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if hasCluster(t, next, "outbound|9080|v3|reviews.default.svc.cluster.local") || !hasCluster(t, next, "outbound|9080|v1|reviews.default.svc.cluster.local") {
		t.Error("pushed clusters do not reflect the edit")
	}
}

func hasCluster(t *testing.T, r *discoveryv3.DiscoveryResponse, name string) bool {
	for _, a := range r.Resources {
		c := &clusterv3.Cluster{}
		if err := a.UnmarshalTo(c); err != nil {
			t.Fatal(err)
		}
		if c.Name == name {
			return true
		}
	}
	return false
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
