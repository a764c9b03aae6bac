// Package cluster generates CDS for sidecars: outbound clusters per service port and
// subset, inbound clusters per served port, and the BlackHole/Passthrough clusters, as
// istiod names and configures them.
package cluster

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
)

// BuildClusters returns the clusters for proxy p.
func BuildClusters(pc *model.PushContext, p *model.Proxy) []*clusterv3.Cluster {
	return nil
}
