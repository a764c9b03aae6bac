// Package xdstest serves an ADS server to tests over an in-memory connection.
package xdstest

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
)

// Server is what Serve needs of an ADS server (xds.Server); an interface so that the
// xds package's own tests can use Serve.
type Server interface {
	Register(*grpc.Server)
	Start(stop <-chan struct{})
}

// Serve starts s (its debouncer) and a gRPC server for it on an in-memory listener, and
// returns a client connection to it; the test's cleanup stops both.
func Serve(t testing.TB, s Server) *grpc.ClientConn {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	g := grpc.NewServer()
	s.Register(g)
	stop := make(chan struct{})
	s.Start(stop)
	go func() { _ = g.Serve(lis) }()
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		close(stop)
		_ = conn.Close()
		g.Stop()
	})
	return conn
}
