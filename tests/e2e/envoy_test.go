package e2e

import (
	"errors"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
)

// envoy stands in for an Envoy behind istio-agent: one SotW ADS stream whose node carries
// the metadata istio-agent sends (testdata/envoy-node.json). Like Envoy, it ACKs every
// response, pushes included, except for the types it was told to reject, which it NACKs.
type envoy struct {
	t      *testing.T
	stream discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	reject map[string]string // type URL -> NACK message

	mu sync.Mutex // guards the fields below and serializes stream.Send
	// node goes on the first request only, as Envoy sends it; nil once sent.
	node     *corev3.Node
	names    map[string][]string
	answered map[string]chan struct{} // closed at the first response of a type
}

// connectEnvoy opens the stream; nothing is sent until the first subscribe.
func connectEnvoy(t *testing.T, xdsAddr string, reject map[string]string) *envoy {
	t.Helper()
	b, err := os.ReadFile("testdata/envoy-node.json")
	if err != nil {
		t.Fatal(err)
	}
	node := &corev3.Node{}
	if err := protojson.Unmarshal(b, node); err != nil {
		t.Fatalf("envoy-node.json: %v", err)
	}
	conn, err := grpc.NewClient(xdsAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	e := &envoy{t: t, stream: stream, node: node, reject: reject,
		names: map[string][]string{}, answered: map[string]chan struct{}{}}
	done := make(chan struct{})
	go func() { defer close(done); e.receive() }()
	t.Cleanup(func() { <-done }) // the test's context is done by now: Recv returns
	return e
}

// subscribe asks for typeURL (names empty: wildcard) and waits until the answer was
// ACKed or NACKed.
func (e *envoy) subscribe(typeURL string, names ...string) {
	e.t.Helper()
	answered := make(chan struct{})
	e.mu.Lock()
	e.names[typeURL] = names
	e.answered[typeURL] = answered
	req := &discoveryv3.DiscoveryRequest{TypeUrl: typeURL, ResourceNames: names}
	if e.node != nil {
		req.Node, e.node = e.node, nil
	}
	err := e.stream.Send(req)
	e.mu.Unlock()
	if err != nil {
		e.t.Fatalf("envoy: subscribe %s: %v", typeURL, err)
	}
	select {
	case <-answered:
	case <-time.After(10 * time.Second):
		e.t.Fatalf("envoy: no %s response in 10s", typeURL)
	}
}

// receive answers every response until the stream ends.
func (e *envoy) receive() {
	for {
		resp, err := e.stream.Recv()
		if err != nil {
			if !errors.Is(err, io.EOF) && status.Code(err) != codes.Canceled {
				e.t.Logf("envoy: stream ended: %v", err)
			}
			return
		}
		if err := e.answer(resp); err != nil {
			e.t.Logf("envoy: answering %s: %v", resp.GetTypeUrl(), err)
			return
		}
	}
}

// answer ACKs or NACKs one response, then marks its type answered.
func (e *envoy) answer(resp *discoveryv3.DiscoveryResponse) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	typeURL := resp.GetTypeUrl()
	req := &discoveryv3.DiscoveryRequest{
		TypeUrl: typeURL, ResourceNames: e.names[typeURL],
		VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce(),
	}
	if msg, ok := e.reject[typeURL]; ok {
		req.VersionInfo = "" // a NACK repeats the last accepted version: none
		req.ErrorDetail = &statuspb.Status{Code: int32(codes.InvalidArgument), Message: msg}
	}
	err := e.stream.Send(req)
	if ch, ok := e.answered[typeURL]; ok {
		close(ch)
		delete(e.answered, typeURL)
	}
	return err
}
