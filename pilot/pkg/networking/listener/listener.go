// Package listener generates LDS for sidecars: virtualOutbound (15001), virtualInbound
// (15006) and the per-port outbound listeners, with istiod's default filter chains.
package listener

import (
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
)

// BuildListeners returns the listeners for proxy p.
func BuildListeners(pc *model.PushContext, p *model.Proxy) []*listenerv3.Listener {
	return nil
}
