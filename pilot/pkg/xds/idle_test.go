package xds

import (
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pkg/idlegc"
)

// blockingClusters holds each generation until released, to observe the server mid-push.
type blockingClusters struct {
	*fakeClusters
	entered, release chan struct{}
}

func (b blockingClusters) Generate(pc *model.PushContext, p *model.Proxy, names []string, req *model.PushRequest) ([]Resource, error) {
	b.entered <- struct{}{}
	<-b.release
	return b.fakeClusters.Generate(pc, p, names, req)
}

// TestIdleCollectorSeesRequestsAndPushes checks that the server reports its work to the
// idle collector: busy while a request or a push is generated, and idle again after, so
// that collections neither land in pushes nor stop for good after one.
func TestIdleCollectorSeesRequestsAndPushes(t *testing.T) {
	idle := idlegc.New(idlegc.Options{After: time.Hour})
	e := newEnv(t, func(o *Options) { o.Idle = idle })
	gen := blockingClusters{e.gen, make(chan struct{}), make(chan struct{})}
	e.server.AddGenerator(ClusterType, gen)
	st := e.sotw(t.Context())
	rs := responses(st.Recv)
	if err := st.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: ClusterType}); err != nil {
		t.Fatal(err)
	}
	<-gen.entered
	if idle.Busy() != 1 {
		t.Errorf("busy = %d while a request is generated, want 1", idle.Busy())
	}
	gen.release <- struct{}{}
	resp := recv(t, rs)
	if err := st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: ClusterType, ResponseNonce: resp.Nonce, VersionInfo: resp.VersionInfo}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return idle.Busy() == 0 })

	e.gen.set("a", 2*time.Second)
	e.push(drKey)
	<-gen.entered
	if idle.Busy() < 1 {
		t.Errorf("busy = %d while a push is generated, want at least 1", idle.Busy())
	}
	gen.release <- struct{}{}
	recv(t, rs)
	waitFor(t, func() bool { return idle.Busy() == 0 })
}
