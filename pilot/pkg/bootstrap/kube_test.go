package bootstrap

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/sextant-mesh/sextant/pilot/pkg/config/kube/kubetest"
	"github.com/sextant-mesh/sextant/pilot/pkg/features"
	"github.com/sextant-mesh/sextant/pilot/pkg/xds"
	"github.com/sextant-mesh/sextant/pkg/log"
)

// The API server (envtest) starts only for the tests that need one.
func TestMain(m *testing.M) {
	kubetest.Main(m)
}

// The bookinfo sample, created through the API server instead of read from a directory,
// reaches a connected proxy, and so do edits and deletes.
func TestServesTheClusterAndFollowsIt(t *testing.T) {
	api := kubetest.Shared()
	api.SkipUnlessRunning(t)
	c, err := client.New(api.Config, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	objs := applyDir(t, c, "../../../examples/bookinfo")

	f, _ := features.Parse(func(string) (string, bool) { return "", false })
	f.DebounceAfter, f.PodName = 10*time.Millisecond, "istiod-test-0"
	s, err := New(Args{
		GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", MonitoringAddr: "127.0.0.1:0",
		Domain: "cluster.local", ClusterID: "Kubernetes", Kube: api.Config,
		ShutdownDuration: time.Second, Features: f, Log: log.Options{OutputLevel: "default:none"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)

	conn, err := grpc.NewClient(s.Addr("grpc"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: productpage}, TypeUrl: xds.ClusterType}); err != nil {
		t.Fatal(err)
	}
	const v1, v3 = "outbound|9080|v1|reviews.default.svc.cluster.local", "outbound|9080|v3|reviews.default.svc.cluster.local"
	resp := recvUntil(t, st, func(r *discoveryv3.DiscoveryResponse) bool { return hasCluster(t, r, v1) && hasCluster(t, r, v3) })

	// Editing the DestinationRule through the API server pushes new clusters.
	dr := objs["DestinationRule/reviews"]
	if err := c.Get(t.Context(), client.ObjectKeyFromObject(dr), dr); err != nil {
		t.Fatal(err)
	}
	subsets, _, _ := unstructured.NestedSlice(dr.Object, "spec", "subsets")
	_ = unstructured.SetNestedSlice(dr.Object, subsets[:2], "spec", "subsets")
	if err := c.Update(t.Context(), dr); err != nil {
		t.Fatal(err)
	}
	resp = recvUntil(t, st, func(r *discoveryv3.DiscoveryResponse) bool { return !hasCluster(t, r, v3) }, resp)
	if !hasCluster(t, resp, v1) {
		t.Error("v1 subset cluster gone after removing v3")
	}

	// An object the API server accepts but Istio rejects is listed, not served.
	bad := objs["VirtualService/reviews"].DeepCopy()
	bad.SetName("broken")
	bad.SetResourceVersion("")
	_ = unstructured.SetNestedSlice(bad.Object, []any{map[string]any{"match": []any{map[string]any{"uri": map[string]any{"regex": "(["}}}, "route": []any{map[string]any{"destination": map[string]any{"host": "reviews"}}}}}, "spec", "http")
	create(t, c, bad)
	waitFor(t, func() bool {
		return strings.Contains(get(t, "http://"+s.Addr("http")+"/debug/config_problems"), "spec.http[0].match[0].uri.regex")
	})

	// Deleting it removes the subset clusters.
	if err := c.Delete(t.Context(), dr); err != nil {
		t.Fatal(err)
	}
	recvUntil(t, st, func(r *discoveryv3.DiscoveryResponse) bool { return !hasCluster(t, r, v1) }, resp)
}

// recvUntil ACKs responses (the last of acked first) until one satisfies ok.
func recvUntil(t *testing.T, st discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient, ok func(*discoveryv3.DiscoveryResponse) bool, acked ...*discoveryv3.DiscoveryResponse) *discoveryv3.DiscoveryResponse {
	t.Helper()
	for _, a := range acked {
		_ = st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: a.TypeUrl, VersionInfo: a.VersionInfo, ResponseNonce: a.Nonce})
	}
	for {
		r, err := st.Recv()
		if err != nil {
			t.Fatalf("waiting for a push: %v", err)
		}
		_ = st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: r.TypeUrl, VersionInfo: r.VersionInfo, ResponseNonce: r.Nonce})
		if ok(r) {
			return r
		}
	}
}

var docSeparator = regexp.MustCompile(`(?m)^---\s*$`)

// loopback matches the sample's pod addresses (loopback, so that local e2e clients can
// reach them), which the API server refuses in EndpointSlices.
var loopback = regexp.MustCompile(`\b127\.1\.`)

// applyDir creates the objects of a directory of manifests (and their status, which
// creates ignore), keyed Kind/name. Loopback pod addresses move to 10.245.0.0/16.
func applyDir(t *testing.T, c client.Client, dir string) map[string]*unstructured.Unstructured {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	out := map[string]*unstructured.Unstructured{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b = loopback.ReplaceAll(b, []byte("10.245."))
		for _, doc := range docSeparator.Split(string(b), -1) {
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
				t.Fatal(err)
			}
			if len(u.Object) == 0 {
				continue
			}
			create(t, c, u)
			out[u.GetKind()+"/"+u.GetName()] = u
		}
	}
	return out
}

func create(t *testing.T, c client.Client, u *unstructured.Unstructured) {
	t.Helper()
	status, hasStatus := u.Object["status"]
	err := c.Create(t.Context(), u)
	if apierrors.IsAlreadyExists(err) && u.GetKind() == "Namespace" {
		return
	}
	if err != nil {
		t.Fatalf("creating %s %s: %v", u.GetKind(), u.GetName(), err)
	}
	// The API server outlives the test (-count): leave nothing behind.
	t.Cleanup(func() {
		if err := c.Delete(context.Background(), u, client.GracePeriodSeconds(0)); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting %s %s: %v", u.GetKind(), u.GetName(), err)
		}
	})
	if hasStatus && (u.GetKind() == "Pod" || u.GetKind() == "Node") {
		u.Object["status"] = status
		if err := c.Status().Update(t.Context(), u); err != nil {
			t.Fatalf("status of %s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}
}
