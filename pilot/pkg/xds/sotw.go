package xds

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"unique"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/protoconv"
)

// StreamAggregatedResources serves a State of the World ADS stream.
func (s *Server) StreamAggregatedResources(srv discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesServer) error {
	st := &stream[*sotwRequest]{
		s:   s,
		ctx: srv.Context(),
		recv: func() (*sotwRequest, error) {
			r := &sotwRequest{}
			return r, srv.RecvMsg(r)
		},
		node: func(r *sotwRequest) *corev3.Node { return r.GetNode() },
		handle: func(c *Connection, r *sotwRequest) error {
			defer r.release()
			return s.handleSotW(c, srv, r)
		},
		push: func(c *Connection, req *model.PushRequest) error {
			return s.pushSotW(c, srv, req)
		},
	}
	return st.run()
}

// sotwSender is the stream's SendMsg, which takes a DiscoveryResponse or its sotwWire.
type sotwSender interface {
	SendMsg(any) error
}

// handleSotW applies one request: a NACK is recorded and not answered; a stale nonce is
// ignored; an ACK is recorded and answered only if the subscription changed; a first
// request for a type is answered.
func (s *Server) handleSotW(c *Connection, srv sotwSender, r *sotwRequest) error {
	typeURL := r.GetTypeUrl()
	c.mu.Lock()
	w := c.watched[typeURL]
	// An ACK names what the last request named, usually in the same order: the names are
	// then the watched ones, kept interned; otherwise they are interned again.
	var names []string
	var interned []unique.Handle[string]
	if w != nil && r.names.equal(w.Names) {
		names, interned = w.Names, w.interned
	} else {
		c.mu.Unlock()
		names, interned = internSorted(r.names.strings())
		c.mu.Lock()
		w = c.watched[typeURL]
	}
	if r.GetErrorDetail() != nil {
		if w != nil && r.GetResponseNonce() == w.NonceSent {
			w.LastNACK = r.GetErrorDetail().GetMessage()
			w.nackedHash = w.sentHash
		}
		c.mu.Unlock()
		s.metrics.rejects.WithLabelValues(ShortName(typeURL)).Inc()
		s.log.Info("NACK", "conn", c.ID, "type", ShortName(typeURL), "nonce", r.GetResponseNonce(), "error", r.GetErrorDetail().GetMessage())
		return nil
	}
	if w == nil {
		w = &Watched{TypeURL: typeURL, Names: names, interned: interned, Wildcard: len(names) == 0 && isWildcardType(typeURL)}
		c.watched[typeURL] = w
		c.mu.Unlock()
		_, err := s.respondSotW(c, srv, typeURL, nil, false)
		return err
	}
	if r.GetResponseNonce() != "" && r.GetResponseNonce() != w.NonceSent {
		c.mu.Unlock()
		return nil // an answer to a response that has since been superseded
	}
	if r.GetResponseNonce() != "" {
		w.NonceAcked, w.LastNACK = r.GetResponseNonce(), ""
	}
	changed := !w.Wildcard && !sameNames(w.Names, names)
	if changed {
		w.Names, w.interned = names, interned
	}
	c.mu.Unlock()
	if !changed {
		return nil
	}
	_, err := s.respondSotW(c, srv, typeURL, nil, false)
	return err
}

// pushSotW delivers a push: the affected types are regenerated and sent when they differ
// from what the proxy has.
func (s *Server) pushSotW(c *Connection, srv sotwSender, req *model.PushRequest) error {
	return c.deliver(req, func(typeURL string, force bool) (bool, error) {
		return s.respondSotW(c, srv, typeURL, req, force)
	})
}

// respondSotW generates and sends one type, unless a push would resend what the proxy
// has (and force is false) or what it rejected; it reports whether it sent. req is nil
// when answering a request.
func (s *Server) respondSotW(c *Connection, srv sotwSender, typeURL string, req *model.PushRequest, force bool) (bool, error) {
	g, ok := s.generateFor(c, typeURL, req, false)
	if !ok {
		return false, nil
	}
	es := g.es
	hash := setHash(es)
	c.mu.Lock()
	w := c.watched[typeURL]
	skip := hash == w.nackedHash && w.nackedHash != 0 ||
		(req != nil && !req.Forced && !force && w.NonceSent != "" && hash == w.sentHash)
	c.mu.Unlock()
	if skip {
		discard(es)
		return false, nil
	}
	nonce, version := s.nonces.next(), itoaVersion(s.pushVersion.Load())
	resp := &sotwWire{typeURL: typeURL, versionInfo: version, nonce: nonce, resources: es, controlPlane: s.controlPlaneID()}
	// The codec hands pooled encodings back to their pool once written, even when the
	// send fails or times out; the list goes back once SendMsg has marshalled it.
	send := func() error {
		err := srv.SendMsg(resp)
		protoconv.RecycleResources(es)
		return err
	}
	if err := s.sendWithTimeout(send); err != nil {
		return false, err
	}
	c.mu.Lock()
	w.NonceSent, w.VersionSent, w.sentHash, w.LastSent = nonce, version, hash, s.opts.Clock.Now()
	c.mu.Unlock()
	s.recordSent(typeURL, req)
	return true, nil
}

func (s *Server) recordSent(typeURL string, req *model.PushRequest) {
	s.metrics.pushes.WithLabelValues(ShortName(typeURL)).Inc()
	if req != nil && !req.Start.IsZero() {
		s.metrics.convergence.Observe(s.opts.Clock.Since(req.Start).Seconds())
	}
}
