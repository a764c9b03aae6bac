package envoyfilter

import (
	"slices"
	"strconv"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/proto"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
)

// PatchClusters applies the CLUSTER patches of ps for context ctx to cs, in place of the
// clusters they change, and appends the clusters ADD patches insert. hosts, when not nil,
// gives the service hostnames a cluster serves where its name does not say (inbound
// clusters: every service of the workload port); match.cluster.service is checked
// against them. The clusters of cs are never altered: a merged cluster is a copy.
func PatchClusters(ps *Patches, ctx Context, cs []*clusterv3.Cluster, hosts func(*clusterv3.Cluster) []string) []*clusterv3.Cluster {
	patches := ps.scoped(networkingv1alpha3.EnvoyFilter_CLUSTER, ctx)
	if len(patches) == 0 {
		return cs
	}
	out := make([]*clusterv3.Cluster, 0, len(cs))
	combined := map[string]*clusterv3.Cluster{}
	for _, c := range cs {
		var h []string
		if hosts != nil {
			h = hosts(c)
		}
		if c = patchCluster(patches, c, h, combined); c != nil {
			out = append(out, c)
		}
	}
	for _, p := range patches {
		// An ADD without a context adds to sidecar outbound and gateways only.
		if p.Operation != opAdd || p.Value == nil ||
			(p.Match.GetContext() == networkingv1alpha3.EnvoyFilter_ANY && ctx != SidecarOutbound && ctx != Gateway) {
			continue
		}
		out = append(out, proto.Clone(p.Value).(*clusterv3.Cluster))
	}
	return out
}

// patchCluster applies the patches to one cluster in order; nil means removed.
//
// When every patch that matches is a plain MERGE without a transport socket (the common
// case: mesh-wide filters tuning every outbound cluster), merging them one after the
// other equals merging their combination once - proto merge is associative for such
// values (scalars and oneofs: the last set wins; lists append; maps replace entries;
// messages recurse; Durations replace) - so the combination is built once per set of
// matching patches (memoised in combined) and merged into the cluster in one go.
func patchCluster(patches []*Patch, c *clusterv3.Cluster, hosts []string, combined map[string]*clusterv3.Cluster) *clusterv3.Cluster {
	var key strings.Builder
	matched, combinable := 0, true
	for i, p := range patches {
		if p.Operation != opRemove && !isMerge(p.Operation) {
			continue
		}
		if !clusterMatches(p.Match.GetCluster(), c, hosts) {
			continue
		}
		if p.Operation == opRemove {
			return nil
		}
		v, _ := p.Value.(*clusterv3.Cluster)
		if p.Operation != opMerge || v == nil || v.GetTransportSocket() != nil {
			combinable = false
		}
		matched++
		key.WriteString(strconv.Itoa(i))
		key.WriteByte(',')
	}
	switch {
	case matched == 0:
		return c
	case combinable && matched > 1:
		v := combined[key.String()]
		if v == nil {
			v = combine(patches, c, hosts)
			combined[key.String()] = v
		}
		c = proto.Clone(c).(*clusterv3.Cluster)
		mergeValue(opMerge, c, v)
		return c
	}
	copied := false
	for _, p := range patches {
		if p.Operation != opRemove && !isMerge(p.Operation) {
			continue
		}
		if !clusterMatches(p.Match.GetCluster(), c, hosts) {
			continue
		}
		if p.Operation == opRemove {
			return nil
		}
		if !copied {
			c, copied = proto.Clone(c).(*clusterv3.Cluster), true
		}
		mergeCluster(p, c)
	}
	return c
}

// combine merges the values of the MERGE patches matching c, in order, into one value.
func combine(patches []*Patch, c *clusterv3.Cluster, hosts []string) *clusterv3.Cluster {
	var out *clusterv3.Cluster
	for _, p := range patches {
		if p.Operation != opMerge || !clusterMatches(p.Match.GetCluster(), c, hosts) {
			continue
		}
		v := p.Value.(*clusterv3.Cluster)
		if out == nil {
			out = proto.Clone(v).(*clusterv3.Cluster)
			continue
		}
		mergeValue(opMerge, out, v)
	}
	return out
}

// mergeCluster merges a patch into a cluster. A transport socket in the patch is merged
// into the cluster's socket of the same name (typed_config into typed_config), replaces
// a socket of another name, and is dropped with the rest of the patch when the cluster
// picks sockets by transport_socket_matches and none has that name - as istiod does.
func mergeCluster(p *Patch, c *clusterv3.Cluster) {
	v, _ := p.Value.(*clusterv3.Cluster)
	if v == nil {
		return
	}
	if v.GetTransportSocket() == nil {
		mergeValue(p.Operation, c, v)
		return
	}
	var ts *corev3.TransportSocket
	if len(c.GetTransportSocketMatches()) > 0 {
		for _, m := range c.GetTransportSocketMatches() {
			if m.GetTransportSocket() != nil && m.GetTransportSocket().GetName() == v.GetTransportSocket().GetName() {
				ts = m.GetTransportSocket()
				break
			}
		}
		if ts == nil {
			return
		}
	} else if c.GetTransportSocket().GetName() == v.GetTransportSocket().GetName() {
		ts = c.GetTransportSocket()
	}
	if ts == nil {
		c.TransportSocket = proto.Clone(v.GetTransportSocket()).(*corev3.TransportSocket)
		return
	}
	mergeTransportSocket(ts, p)
}

// mergeTransportSocket merges the patch's transport socket typed_config into ts's. Only
// the typed_config is merged; the rest of the patch is not applied (istiod's behaviour).
func mergeTransportSocket(ts *corev3.TransportSocket, p *Patch) {
	if ts.GetTypedConfig() == nil || p.typed == nil {
		return
	}
	if merged, err := mergeAny(ts.GetTypedConfig(), p.typed); err == nil {
		ts.ConfigType = &corev3.TransportSocket_TypedConfig{TypedConfig: merged}
	}
}

// clusterMatches applies match.cluster: an exact name, or the service, subset and port
// that the cluster's name (direction|port|subset|host) encodes.
func clusterMatches(m *networkingv1alpha3.EnvoyFilter_ClusterMatch, c *clusterv3.Cluster, hosts []string) bool {
	if m == nil {
		return true
	}
	if m.GetName() != "" {
		return m.GetName() == c.GetName()
	}
	inbound, subset, host, port := parseClusterName(c.GetName())
	if m.GetSubset() != "" && m.GetSubset() != subset {
		return false
	}
	if m.GetService() != "" {
		if inbound && len(hosts) > 0 {
			if !slices.Contains(hosts, m.GetService()) {
				return false
			}
		} else if m.GetService() != host {
			return false
		}
	}
	return m.GetPortNumber() == 0 || int(m.GetPortNumber()) == port
}

// parseClusterName splits direction|port|subset|host (or the DNS SRV form
// direction_.port_.subset_.host); parts it cannot find are empty.
func parseClusterName(name string) (inbound bool, subset, host string, port int) {
	sep := "|"
	if strings.HasPrefix(name, "outbound_") || strings.HasPrefix(name, "inbound_") {
		sep = "_."
	}
	dir, rest, ok := strings.Cut(name, sep)
	if !ok {
		return false, "", "", 0
	}
	inbound = dir == "inbound"
	p, rest, ok := strings.Cut(rest, sep)
	if !ok {
		return inbound, "", "", 0
	}
	port, _ = strconv.Atoi(p)
	ss, rest, ok := strings.Cut(rest, sep)
	if !ok {
		return inbound, "", "", port
	}
	if strings.Contains(rest, sep) {
		return inbound, ss, "", port
	}
	return inbound, ss, rest, port
}
