package xds

import (
	"slices"
	"strconv"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/protoconv"
)

// DeltaAggregatedResources serves an incremental (Delta) ADS stream.
func (s *Server) DeltaAggregatedResources(srv discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesServer) error {
	st := &stream[*discoveryv3.DeltaDiscoveryRequest]{
		s:     s,
		ctx:   srv.Context(),
		recv:  srv.Recv,
		node:  func(r *discoveryv3.DeltaDiscoveryRequest) *corev3.Node { return r.GetNode() },
		delta: true,
		handle: func(c *Connection, r *discoveryv3.DeltaDiscoveryRequest) error {
			return s.handleDelta(c, srv, r)
		},
		push: func(c *Connection, req *model.PushRequest) error {
			return s.pushDelta(c, srv, req)
		},
	}
	return st.run()
}

// deltaSender is the stream's SendMsg, which takes a DeltaDiscoveryResponse or its
// deltaWire.
type deltaSender interface {
	SendMsg(any) error
}

// handleDelta applies one request: subscription changes always apply; a NACK is recorded;
// an ACK of the latest nonce is recorded; new subscriptions are answered.
func (s *Server) handleDelta(c *Connection, srv deltaSender, r *discoveryv3.DeltaDiscoveryRequest) error {
	typeURL := r.GetTypeUrl()
	c.mu.Lock()
	w := c.watched[typeURL]
	first := w == nil
	if first {
		w = &Watched{TypeURL: typeURL, sent: map[string]uint64{}}
		w.Wildcard = isWildcardType(typeURL) && len(r.GetResourceNamesSubscribe()) == 0
		// A reconnecting client says what it has; versions are content hashes, so
		// unchanged resources are not resent.
		for name, v := range r.GetInitialResourceVersions() {
			if h, err := strconv.ParseUint(v, 16, 64); err == nil {
				w.sent[name] = h
			}
		}
		c.watched[typeURL] = w
	}
	subscribed := applySubscription(w, r.GetResourceNamesSubscribe(), r.GetResourceNamesUnsubscribe())
	if len(r.GetResourceNamesSubscribe()) > 0 || len(r.GetResourceNamesUnsubscribe()) > 0 {
		w.current = false // sent no longer follows the generator's last answer
	}
	if r.GetErrorDetail() != nil {
		if r.GetResponseNonce() == w.NonceSent {
			w.LastNACK, w.nackedHash = r.GetErrorDetail().GetMessage(), w.sentHash
		}
		c.mu.Unlock()
		s.metrics.rejects.WithLabelValues(ShortName(typeURL)).Inc()
		s.log.Info("NACK", "conn", c.ID, "type", ShortName(typeURL), "error", r.GetErrorDetail().GetMessage())
		return nil
	}
	if r.GetResponseNonce() != "" && r.GetResponseNonce() == w.NonceSent {
		w.NonceAcked, w.LastNACK = r.GetResponseNonce(), ""
	}
	c.mu.Unlock()
	if !first && !subscribed {
		return nil
	}
	_, err := s.respondDelta(c, srv, typeURL, nil, false)
	return err
}

// applySubscription updates the subscribed names and reports whether new names were
// subscribed. "*" subscribes to everything. Unsubscribed resources are forgotten.
func applySubscription(w *Watched, sub, unsub []string) bool {
	if len(sub) == 0 && len(unsub) == 0 {
		return false // an ACK or NACK
	}
	names := map[string]bool{}
	for _, n := range w.Names {
		names[n] = true
	}
	added := false
	for _, n := range sub {
		if n == "*" {
			added = added || !w.Wildcard
			w.Wildcard = true
			continue
		}
		if !names[n] {
			names[n], added = true, true
		}
	}
	for _, n := range unsub {
		if n == "*" {
			w.Wildcard = false
			continue
		}
		delete(names, n)
		delete(w.sent, n)
	}
	w.Names = w.Names[:0]
	for n := range names {
		w.Names = append(w.Names, n)
	}
	w.Names, w.interned = internSorted(w.Names)
	return added
}

func (s *Server) pushDelta(c *Connection, srv deltaSender, req *model.PushRequest) error {
	return c.deliver(req, func(typeURL string, force bool) (bool, error) {
		return s.respondDelta(c, srv, typeURL, req, force)
	})
}

// respondDelta sends the resources that are new or changed since last sent (all of them
// with force), and the names that went away; it reports whether it sent. A push that
// changes nothing sends nothing.
func (s *Server) respondDelta(c *Connection, srv deltaSender, typeURL string, req *model.PushRequest, force bool) (bool, error) {
	c.mu.Lock()
	w := c.watched[typeURL]
	// A push may send only what the generator says changed while the client has what it
	// last returned: its whole subscription (wildcard), unchanged since (current).
	delta := req != nil && !force && w.Wildcard && w.current
	c.mu.Unlock()
	g, ok := s.generateFor(c, typeURL, req, delta)
	c.mu.Lock()
	if !ok {
		w.current = false // the generator may remember what it did not return
		c.mu.Unlock()
		return false, nil
	}
	es := g.es
	var changed, same []Resource
	held := 0 // resources of es the client holds
	for _, e := range es {
		h, ok := w.sent[e.Name]
		if ok {
			held++
		}
		if force || !ok || h != e.Hash {
			changed = append(changed, e)
		} else if e.Pooled {
			same = append(same, e)
		}
	}
	var removed []string
	switch {
	case g.delta:
		for _, name := range g.removed {
			if _, ok := w.sent[name]; ok {
				removed = append(removed, name)
			}
		}
	// A push naming hosts sends only their clusters: absent names are not removals. The
	// client holds nothing else when it holds as many resources as es has of them.
	case req != nil && req.EndpointHosts != nil && typeURL == EndpointType:
	case held < len(w.sent):
		present := make(map[string]bool, len(es))
		for _, e := range es {
			present[e.Name] = true
		}
		for name := range w.sent {
			if !present[name] {
				removed = append(removed, name)
			}
		}
	}
	slices.Sort(removed)
	hash := setHash(changed) ^ uint64(len(removed))
	nacked := w.nackedHash != 0 && hash == w.nackedHash
	skip := (req != nil && len(changed) == 0 && len(removed) == 0) || nacked
	// What the generator returned is what the client has, unless it is not sent.
	w.current = !nacked
	c.mu.Unlock()
	if skip {
		discard(es)
		return false, nil
	}
	nonce, version := s.nonces.next(), itoaVersion(s.pushVersion.Load())
	// The pooled encodings of resources not sent go back to the pool now; the codec hands
	// back those sent once written, even when the send fails or times out. The resources
	// sent are in changed: the generator's list is done with.
	recycle(same)
	protoconv.RecycleResources(es)
	resp := &deltaWire{
		typeURL: typeURL, systemVersionInfo: version, nonce: nonce,
		resources: changed, removed: removed, controlPlane: s.controlPlaneID(),
	}
	if err := s.sendWithTimeout(func() error { return srv.SendMsg(resp) }); err != nil {
		c.mu.Lock()
		w.current = false
		c.mu.Unlock()
		return false, err
	}
	c.mu.Lock()
	for _, e := range changed {
		w.sent[e.Name] = e.Hash
	}
	for _, name := range removed {
		delete(w.sent, name)
	}
	w.NonceSent, w.VersionSent, w.sentHash, w.LastSent = nonce, version, hash, s.opts.Clock.Now()
	c.mu.Unlock()
	s.recordSent(typeURL, req)
	return true, nil
}
