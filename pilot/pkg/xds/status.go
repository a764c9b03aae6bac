package xds

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"

	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	statusv3 "github.com/envoyproxy/go-control-plane/envoy/service/status/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
)

// SyncStatus is istiod's per-type sync state of a connection, as istioctl shows it.
func SyncStatus(w Watched) statusv3.ConfigStatus {
	switch {
	case w.LastNACK != "":
		return statusv3.ConfigStatus_ERROR
	case w.NonceSent == "":
		return statusv3.ConfigStatus_NOT_SENT
	case w.NonceSent == w.NonceAcked:
		return statusv3.ConfigStatus_SYNCED
	}
	return statusv3.ConfigStatus_STALE
}

// isProxyConnection tells proxies from tools: istioctl connects with GENERATOR=event
// and asks only for debug types.
func isProxyConnection(c *Connection) bool {
	p := c.proxy()
	if p == nil || (p.Metadata != nil && p.Metadata.Generator == "event") {
		return false
	}
	for t := range c.Watched() {
		if !strings.HasPrefix(t, DebugType) {
			return true
		}
	}
	return false
}

// ClientConfigs returns istiod's syncz view: one ClientConfig per connected proxy with
// the sync status of each type it watches.
func (s *Server) ClientConfigs() []*statusv3.ClientConfig {
	var out []*statusv3.ClientConfig
	for _, c := range s.Connections() {
		if !isProxyConnection(c) {
			continue
		}
		p := c.proxy()
		var xcs []*statusv3.ClientConfig_GenericXdsConfig
		for t, w := range c.Watched() {
			xc := &statusv3.ClientConfig_GenericXdsConfig{
				TypeUrl:      t,
				ConfigStatus: SyncStatus(w),
				LastUpdated:  timestamppb.New(w.LastSent),
			}
			if w.LastNACK != "" {
				xc.ErrorState = &adminv3.UpdateFailureState{LastUpdateAttempt: timestamppb.New(w.LastSent), Details: w.LastNACK}
			}
			xcs = append(xcs, xc)
		}
		sort.Slice(xcs, func(i, j int) bool { return xcs[i].TypeUrl < xcs[j].TypeUrl })
		md, _ := structpb.NewStruct(map[string]any{
			"CLUSTER_ID":    p.ClusterID(),
			"NAMESPACE":     p.ConfigNamespace,
			"ISTIO_VERSION": p.Metadata.IstioVersion,
		})
		out = append(out, &statusv3.ClientConfig{
			Node:              &corev3.Node{Id: p.ID, Metadata: md},
			GenericXdsConfigs: xcs,
		})
	}
	return out
}

// SynczGenerator serves istio.io/debug/syncz.
func (s *Server) SynczGenerator() Generator {
	return GeneratorFunc(func(*model.PushContext, *model.Proxy, []string, *model.PushRequest) ([]Resource, error) {
		var out []Resource
		for _, cc := range s.ClientConfigs() {
			out = append(out, Resource{Name: cc.GetNode().GetId(), Message: cc})
		}
		return out, nil
	})
}

// DebugGenerator serves istio.io/debug: each requested name is a debug endpoint path
// ("syncz", "config_dump?proxyID=x") answered by the debug HTTP handler, its body carried
// as the resource.
func DebugGenerator(debug http.Handler) Generator {
	return GeneratorFunc(func(_ *model.PushContext, _ *model.Proxy, names []string, _ *model.PushRequest) ([]Resource, error) {
		var out []Resource
		for _, n := range names {
			req := httptest.NewRequest(http.MethodGet, "/debug/"+strings.TrimPrefix(n, "/"), nil)
			rec := httptest.NewRecorder()
			debug.ServeHTTP(rec, req)
			out = append(out, Resource{Name: n, Any: &anypb.Any{TypeUrl: DebugType, Value: bytes.Clone(rec.Body.Bytes())}})
		}
		return out, nil
	})
}
