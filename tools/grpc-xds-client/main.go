// Command grpc-xds-client is a proxyless gRPC client (grpc-go's xDS support, as Istio runs
// it) pointed at a Sextant: it fetches listeners, routes, clusters and endpoints for an
// xds:/// target and makes RPCs through them, printing where each went.
//
//	go run ./tools/grpc-xds-client -xds 127.0.0.1:15010 -target xds:///reviews.default.svc.cluster.local:9080
//
// grpc-go reads its xDS bootstrap from GRPC_XDS_BOOTSTRAP_CONFIG when it loads, so the
// command re-executes itself with that variable set from its flags.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	_ "google.golang.org/grpc/xds" // the xds:/// resolver and balancers
)

func main() {
	xdsAddr := flag.String("xds", "127.0.0.1:15010", "Sextant's plaintext xDS address")
	target := flag.String("target", "xds:///reviews.default.svc.cluster.local:9080", "xds:/// target to call")
	nodeID := flag.String("node", "sidecar~127.1.1.10~productpage-v1-0.default~default.svc.cluster.local", "node id")
	namespace := flag.String("namespace", "default", "the client's namespace")
	n := flag.Int("n", 5, "RPCs to make (grpc.health.v1 Check)")
	flag.Parse()
	if os.Getenv("GRPC_XDS_BOOTSTRAP_CONFIG") == "" {
		reexec(*xdsAddr, *nodeID, *namespace)
	}
	conn, err := grpc.NewClient(*target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)
	for i := 0; i < *n; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var p peer.Peer
		resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Peer(&p))
		cancel()
		if err != nil {
			fmt.Printf("rpc %d: %v\n", i, err)
			continue
		}
		fmt.Printf("rpc %d: %s from %v\n", i, resp.GetStatus(), p.Addr)
	}
}

// reexec runs this program again with grpc-go's bootstrap in its environment.
func reexec(xdsAddr, nodeID, namespace string) {
	b, _ := json.Marshal(map[string]any{
		"xds_servers": []any{map[string]any{
			"server_uri": xdsAddr, "channel_creds": []any{map[string]any{"type": "insecure"}},
			"server_features": []any{"xds_v3"},
		}},
		"node": map[string]any{"id": nodeID, "metadata": map[string]any{
			"GENERATOR": "grpc", "NAMESPACE": namespace, "ISTIO_VERSION": "1.31.1", "CLUSTER_ID": "Kubernetes",
		}},
	})
	self, err := os.Executable()
	if err == nil {
		err = syscall.Exec(self, os.Args, append(os.Environ(), "GRPC_XDS_BOOTSTRAP_CONFIG="+string(b)))
	}
	fmt.Fprintln(os.Stderr, "re-exec:", err)
	os.Exit(1)
}
