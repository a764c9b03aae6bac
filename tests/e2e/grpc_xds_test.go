package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	_ "google.golang.org/grpc/xds" // registers the xds:/// resolver and balancers

	"github.com/sextant-mesh/sextant/pilot/pkg/bootstrap"
	"github.com/sextant-mesh/sextant/pilot/pkg/features"
	"github.com/sextant-mesh/sextant/pkg/log"
)

const target = "xds:///reviews.default.svc.cluster.local:9080"

// backend is a real gRPC server answering UnaryCall with its name.
type backend struct {
	testgrpc.UnimplementedTestServiceServer
	name string
}

func (b *backend) UnaryCall(context.Context, *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	return &testgrpc.SimpleResponse{Hostname: b.name}, nil
}

func startBackend(t *testing.T, addr, name string) {
	t.Helper()
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("backend %s: %v", name, err)
	}
	g := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(g, &backend{name: name})
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
}

// freePort finds a port free on both 127.0.0.1 and 127.0.0.2.
func freePort(t *testing.T) int {
	for i := 0; i < 20; i++ {
		l1, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l1.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.2:%d", port))
		l1.Close()
		if err == nil {
			l2.Close()
			return port
		}
	}
	t.Fatal("no port free on 127.0.0.1 and 127.0.0.2")
	return 0
}

// writeMesh copies testdata/mesh with the backend port filled in.
func writeMesh(t *testing.T, port int) string {
	dir := t.TempDir()
	files, _ := filepath.Glob("testdata/mesh/*.yaml")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out := strings.ReplaceAll(string(b), "BACKEND_PORT", strconv.Itoa(port))
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func startSextant(t *testing.T, dir string) *bootstrap.Server {
	f, _ := features.Parse(func(string) (string, bool) { return "", false })
	f.PodName = "istiod-e2e"
	s, err := bootstrap.New(bootstrap.Args{
		GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", MonitoringAddr: "127.0.0.1:0",
		Domain: "cluster.local", ClusterID: "Kubernetes", ConfigDir: dir, ShutdownDuration: time.Second,
		Features: f, Log: log.Options{OutputLevel: "default:warn"},
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

// bootstrapConfig is grpc-go's xDS bootstrap: Sextant as the xDS server, and the node of a
// proxyless client (GENERATOR=grpc) in the default namespace.
func bootstrapConfig(xdsAddr string) string {
	b, _ := json.Marshal(map[string]any{
		"xds_servers": []any{map[string]any{
			"server_uri":      xdsAddr,
			"channel_creds":   []any{map[string]any{"type": "insecure"}},
			"server_features": []any{"xds_v3"},
		}},
		"node": map[string]any{
			"id": "sidecar~10.244.1.10~productpage-v1-0.default~default.svc.cluster.local",
			"metadata": map[string]any{
				"GENERATOR": "grpc", "NAMESPACE": "default", "ISTIO_VERSION": "1.31.1",
				"CLUSTER_ID": "Kubernetes", "INSTANCE_IPS": "10.244.1.10",
			},
			"locality": map[string]any{},
		},
	})
	return string(b)
}

// client is the child process running grpc-go's xDS client.
type client struct {
	t   *testing.T
	in  io.WriteCloser
	out *bufio.Scanner
}

func startClient(t *testing.T, xdsAddr string) *client {
	cmd := exec.Command(os.Args[0], "-test.run=^TestXDSClientProcess$")
	cmd.Env = append(os.Environ(), "SEXTANT_E2E_CLIENT=1", "GRPC_XDS_BOOTSTRAP_CONFIG="+bootstrapConfig(xdsAddr))
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); _ = cmd.Wait() })
	return &client{t: t, in: in, out: bufio.NewScanner(out)}
}

// result counts RPC outcomes: backend name or "error:<code>".
type result map[string]int

// call asks the child for n RPCs with the given header (key=value, or "").
func (c *client) call(n int, header string) result {
	c.t.Helper()
	fmt.Fprintf(c.in, "%d %s\n", n, header)
	for c.out.Scan() {
		line := c.out.Text()
		if r, ok := strings.CutPrefix(line, "RESULT "); ok {
			res := result{}
			if err := json.Unmarshal([]byte(r), &res); err != nil {
				c.t.Fatal(err)
			}
			return res
		}
	}
	c.t.Fatal("client exited")
	return nil
}

func TestProxylessGRPCFollowsVirtualService(t *testing.T) {
	port := freePort(t)
	startBackend(t, fmt.Sprintf("127.0.0.1:%d", port), "v1")
	startBackend(t, fmt.Sprintf("127.0.0.2:%d", port), "v2")
	dir := writeMesh(t, port)
	s := startSextant(t, dir)
	c := startClient(t, s.Addr("grpc"))

	// 80/20 weighted split between the subsets.
	split := c.call(400, "")
	if split["v1"]+split["v2"] != 400 {
		t.Fatalf("RPCs = %v, want 400 successes", split)
	}
	if v2 := split["v2"]; v2 < 40 || v2 > 130 { // 20% of 400 = 80, sd 8
		t.Errorf("v2 got %d of 400, want about 20%%", v2)
	}
	// A header match pins to v2.
	if r := c.call(50, "end-user=jason"); r["v2"] != 50 {
		t.Errorf("end-user=jason: %v, want all v2", r)
	}
	// A fault abort fails every RPC with the mapped status (HTTP 503 -> UNAVAILABLE).
	if r := c.call(20, "x-fault=abort"); r["error:"+codes.Unavailable.String()] != 20 {
		t.Errorf("x-fault=abort: %v, want 20 UNAVAILABLE", r)
	}

	// Editing the YAML flips the split after the debounce, without restart.
	path := filepath.Join(dir, "istio.yaml")
	b, _ := os.ReadFile(path)
	edited := strings.Replace(strings.Replace(string(b), "weight: 80", "weight: 0", 1), "weight: 20", "weight: 100", 1)
	edit := time.Now()
	if err := os.WriteFile(path, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := c.call(20, "")
		if r["v2"] == 20 {
			t.Logf("split changed %v after the edit", time.Since(edit).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("split still %v 20s after the edit", r)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestXDSClientProcess is the child: it reads "N key=value" lines, makes N UnaryCalls to
// the xDS target with that header, and prints the outcome counts.
func TestXDSClientProcess(t *testing.T) {
	if os.Getenv("SEXTANT_E2E_CLIENT") != "1" {
		t.Skip("runs as the e2e client child process")
	}
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tc := testgrpc.NewTestServiceClient(conn)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		fields := strings.Fields(in.Text())
		n, _ := strconv.Atoi(fields[0])
		ctx := context.Background()
		if len(fields) > 1 {
			k, v, _ := strings.Cut(fields[1], "=")
			ctx = metadata.AppendToOutgoingContext(ctx, k, v)
		}
		res := result{}
		for i := 0; i < n; i++ {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			r, err := tc.UnaryCall(cctx, &testgrpc.SimpleRequest{}, grpc.WaitForReady(true))
			cancel()
			if err != nil {
				res["error:"+status.Code(err).String()]++
				continue
			}
			res[r.GetHostname()]++
		}
		b, _ := json.Marshal(res)
		fmt.Printf("RESULT %s\n", b)
	}
}
