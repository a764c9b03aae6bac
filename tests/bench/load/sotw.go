package load

import (
	"context"
	"slices"
	"unsafe"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"

	"github.com/sextant-mesh/sextant/pilot/pkg/networking/protoconv"
)

// sotwType is the client's state of one type on a State of the World stream.
type sotwType struct {
	version, nonce string
	names          []string // subscribed names (EDS, RDS); nil for wildcard types
}

// runSotW runs one State of the World stream until it breaks or ctx ends.
func (c *Client) runSotW(ctx context.Context, conn *grpc.ClientConn) error {
	st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		return err
	}
	state := map[string]*sotwType{}
	var subs subscriptions
	sentNode := false
	// request subscribes to (or ACKs) a type with its current names, version and nonce.
	request := func(typeURL string) error {
		s := state[typeURL]
		if s == nil {
			s = &sotwType{}
			state[typeURL] = s
		}
		req := &discoveryv3.DiscoveryRequest{TypeUrl: typeURL, VersionInfo: s.version, ResponseNonce: s.nonce, ResourceNames: s.names}
		if !sentNode {
			req.Node, sentNode = c.node, true // the first request of the stream
		}
		return st.Send(req)
	}
	if err := request(ClusterType); err != nil {
		return err
	}
	var resp sotwResponse
	defer resp.release()
	var eds edsTracker
	for {
		// Nothing of the last response is held past here: its names and versions were
		// copied out.
		if err := st.RecvMsg(&resp); err != nil {
			return err
		}
		rs := resp.resources
		matched := c.received(resp.typeURL, len(resp.buf), rs, len(rs))
		s := state[resp.typeURL]
		if s == nil {
			continue // not subscribed; Envoy ignores it too
		}
		s.version, s.nonce = resp.versionInfo, resp.nonce
		if i := typeIndex(resp.typeURL); i >= 0 {
			subs.got[i] = true
		}
		// The ACK goes first, then the subscriptions the response changed: Envoy pauses
		// EDS (RDS) while it applies CDS (LDS), ACKs, then resumes.
		if err := request(resp.typeURL); err != nil {
			return err
		}
		c.acked(matched)
		switch resp.typeURL {
		case ClusterType:
			if err := c.follow(state, EndpointType, eds.names(rs, stateNames(state, EndpointType)), request); err != nil {
				return err
			}
			if len(stateNames(state, EndpointType)) == 0 && !subs.ldsRequested {
				subs.ldsRequested = true
				if err := request(ListenerType); err != nil {
					return err
				}
			}
		case EndpointType:
			if !subs.ldsRequested {
				subs.ldsRequested = true
				if err := request(ListenerType); err != nil {
					return err
				}
			}
		case ListenerType:
			names, err := listenerRouteNames(rs)
			if err != nil {
				return errorf(c, "listeners: %v", err)
			}
			if err := c.follow(state, RouteType, names, request); err != nil {
				return err
			}
		}
		if subs.ready(len(stateNames(state, EndpointType)), len(stateNames(state, RouteType))) {
			c.markReady()
		}
	}
}

// follow updates the subscription of a dependent type (EDS from CDS, RDS from LDS) and
// asks for it when the names changed.
func (c *Client) follow(state map[string]*sotwType, typeURL string, names []string, request func(string) error) error {
	s := state[typeURL]
	if s != nil && sameStrings(s.names, names) {
		return nil
	}
	if s == nil {
		if len(names) == 0 {
			state[typeURL] = &sotwType{}
			return nil
		}
		s = &sotwType{}
		state[typeURL] = s
	}
	s.names = names
	return request(typeURL)
}

func stateNames(state map[string]*sotwType, typeURL string) []string {
	if s := state[typeURL]; s != nil {
		return s.names
	}
	return nil
}

// edsTracker follows the EDS names of a stream's CDS responses by cluster content, as
// Envoy skips the clusters whose content did not change: a cluster whose encoding hashes
// as the one at its position in the last response has that one's EDS name, and only the
// others are read. A SotW push resends a sidecar's ~1,000 clusters, of which a change
// touches a few; reading every one took the driver more CPU than the server under test
// spent on the push.
type edsTracker struct {
	hashes []uint64 // of each cluster of the last response, by position
	eds    []string // the EDS name of each ("" when not EDS), from the subscription
}

// names returns the sorted EDS names of a CDS response's clusters, as clusterEDSNames:
// prev itself when they are prev's names.
func (t *edsTracker) names(rs []resource, prev []string) []string {
	if len(rs) == len(t.hashes) && prev != nil {
		same := true
		for i, r := range rs {
			h := protoconv.Hash(r.value)
			if h == t.hashes[i] {
				continue
			}
			if b := edsNameBytes(r.value); string(b) != t.eds[i] {
				same = false
				break
			}
			t.hashes[i] = h
		}
		if same {
			return prev
		}
	}
	out := clusterEDSNames(rs, prev)
	t.hashes, t.eds = slices.Grow(t.hashes[:0], len(rs))[:len(rs)], slices.Grow(t.eds[:0], len(rs))[:len(rs)]
	for i, r := range rs {
		t.hashes[i], t.eds[i] = protoconv.Hash(r.value), ""
		if b := edsNameBytes(r.value); len(b) > 0 {
			if j, ok := slices.BinarySearch(out, string(b)); ok {
				t.eds[i] = out[j] // shared with the subscription, not a copy
			}
		}
	}
	return out
}

// clusterEDSNames returns the sorted EDS names of a CDS response's clusters: prev itself
// when they are prev's names, as after most pushes (clusters changed, not which ones), found
// without copying a name.
func clusterEDSNames(rs []resource, prev []string) []string {
	seen, found := make([]bool, len(prev)), 0
	for _, r := range rs {
		b := edsNameBytes(r.value)
		if len(b) == 0 {
			continue
		}
		i, ok := slices.BinarySearch(prev, unsafe.String(unsafe.SliceData(b), len(b)))
		if !ok {
			found = -1
			break
		}
		if !seen[i] {
			seen[i] = true
			found++
		}
	}
	if found == len(prev) {
		return prev
	}
	set := make(map[string]struct{}, len(rs))
	for _, r := range rs {
		set[edsName(r.value)] = struct{}{}
	}
	return sortedSet(set)
}

func listenerRouteNames(rs []resource) ([]string, error) {
	set := map[string]struct{}{}
	for _, r := range rs {
		names, err := routeNames(r.value)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			set[n] = struct{}{}
		}
	}
	return sortedSet(set), nil
}
