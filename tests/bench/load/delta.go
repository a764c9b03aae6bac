package load

import (
	"context"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
)

// deltaType is the client's state of one type on a Delta stream.
type deltaType struct {
	// versions are the resources held, by name.
	versions map[string]string
	// deps are, for CDS, each cluster's EDS name and, for LDS, each listener's route names.
	deps map[string][]string
	// subscribed are the names asked for (EDS, RDS).
	subscribed map[string]struct{}
}

func newDeltaType() *deltaType {
	return &deltaType{versions: map[string]string{}, deps: map[string][]string{}, subscribed: map[string]struct{}{}}
}

// runDelta runs one Delta (incremental) stream until it breaks or ctx ends.
func (c *Client) runDelta(ctx context.Context, conn *grpc.ClientConn) error {
	st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(ctx)
	if err != nil {
		return err
	}
	state := map[string]*deltaType{ClusterType: newDeltaType()}
	var subs subscriptions
	// An empty first subscription is the wildcard subscription to clusters.
	if err := st.Send(&discoveryv3.DeltaDiscoveryRequest{Node: c.node, TypeUrl: ClusterType}); err != nil {
		return err
	}
	var resp deltaResponse
	defer resp.release()
	for {
		// Nothing of the last response is held past here: its names and versions were
		// copied out.
		if err := st.RecvMsg(&resp); err != nil {
			return err
		}
		typeURL := resp.GetTypeUrl()
		s := state[typeURL]
		if s == nil {
			continue
		}
		rs := make([]resource, len(resp.GetResources()))
		for i, r := range resp.GetResources() {
			rs[i] = resource{name: r.GetName(), value: r.GetResource().GetValue()}
			s.versions[r.GetName()] = r.GetVersion()
			if err := s.updateDeps(typeURL, rs[i]); err != nil {
				return errorf(c, "%v", err)
			}
		}
		for _, n := range resp.GetRemovedResources() {
			delete(s.versions, n)
			delete(s.deps, n)
		}
		matched := c.received(typeURL, len(resp.buf), rs, len(s.versions))
		if i := typeIndex(typeURL); i >= 0 {
			subs.got[i] = true
		}
		if err := st.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: typeURL, ResponseNonce: resp.GetNonce()}); err != nil {
			return err
		}
		c.acked(matched)
		switch typeURL {
		case ClusterType:
			if err := c.followDelta(st, state, EndpointType, s.deps); err != nil {
				return err
			}
			if len(state[EndpointType].subscribed) == 0 && !subs.ldsRequested {
				subs.ldsRequested = true
				state[ListenerType] = newDeltaType()
				if err := st.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: ListenerType}); err != nil {
					return err
				}
			}
		case EndpointType:
			if !subs.ldsRequested {
				subs.ldsRequested = true
				state[ListenerType] = newDeltaType()
				if err := st.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: ListenerType}); err != nil {
					return err
				}
			}
		case ListenerType:
			if err := c.followDelta(st, state, RouteType, s.deps); err != nil {
				return err
			}
		}
		if subs.ready(subscribedCount(state, EndpointType), subscribedCount(state, RouteType)) {
			c.markReady()
		}
	}
}

func (s *deltaType) updateDeps(typeURL string, r resource) error {
	switch typeURL {
	case ClusterType:
		if n := edsName(r.value); n != "" {
			s.deps[r.name] = []string{n}
		} else {
			delete(s.deps, r.name)
		}
	case ListenerType:
		names, err := routeNames(r.value)
		if err != nil {
			return err
		}
		s.deps[r.name] = names
	}
	return nil
}

// followDelta subscribes to the names deps now need and unsubscribes from the others.
func (c *Client) followDelta(st discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesClient, state map[string]*deltaType, typeURL string, deps map[string][]string) error {
	t := state[typeURL]
	if t == nil {
		t = newDeltaType()
		state[typeURL] = t
	}
	want := map[string]struct{}{}
	for _, names := range deps {
		for _, n := range names {
			want[n] = struct{}{}
		}
	}
	var sub, unsub []string
	for n := range want {
		if _, ok := t.subscribed[n]; !ok {
			sub = append(sub, n)
		}
	}
	for n := range t.subscribed {
		if _, ok := want[n]; !ok {
			unsub = append(unsub, n)
			delete(t.versions, n)
		}
	}
	if len(sub) == 0 && len(unsub) == 0 {
		return nil
	}
	t.subscribed = want
	return st.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: typeURL, ResourceNamesSubscribe: sub, ResourceNamesUnsubscribe: unsub})
}

func subscribedCount(state map[string]*deltaType, typeURL string) int {
	if t := state[typeURL]; t != nil {
		return len(t.subscribed)
	}
	return 0
}
