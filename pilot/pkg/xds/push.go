package xds

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/host"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

// errNothingToSend: a partial (endpoint) push names none of the proxy's resources.
var errNothingToSend = errors.New("nothing to send")

// errSendTimeout closes a connection whose client does not take responses.
var errSendTimeout = errors.New("send timed out: client is not reading, closing the stream")

// sendWithTimeout runs send, giving up after the server's send timeout. A timed-out send
// is left to fail when the stream's context is cancelled by the caller returning.
func (s *Server) sendWithTimeout(send func() error) error {
	if s.opts.SendTimeout <= 0 {
		return send()
	}
	done := make(chan error, 1)
	go func() { done <- send() }()
	t := s.opts.Clock.NewTimer(s.opts.SendTimeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C():
		s.metrics.sendTimeouts.Inc()
		return errSendTimeout
	}
}

// refreshProxy recomputes what the proxy's config depends on (labels, service targets,
// SidecarScope) against pc. The Proxy is replaced, never mutated: readers (debug
// endpoints) may hold the old one.
func (c *Connection) refreshProxy(pc *model.PushContext) *model.Proxy {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := *c.proxyRef
	p.SidecarScope = nil // InitProxy keeps ServiceTargets while they stand
	pc.InitProxy(&p)
	c.proxyRef = &p
	return &p
}

// CurrentProxy returns the connection's proxy as of its last push. It must not be altered.
func (c *Connection) CurrentProxy() *model.Proxy { return c.proxy() }

// proxy returns the connection's current proxy.
func (c *Connection) proxy() *model.Proxy {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.proxyRef
}

// typesToPush returns the watched types a request regenerates: all on a full push, only
// endpoints otherwise.
func (c *Connection) typesToPush(req *model.PushRequest) []string {
	var types []string
	for _, t := range c.watchedTypes() {
		if !strings.HasPrefix(t, DebugType) { // debug answers are per request, never pushed
			types = append(types, t)
		}
	}
	if req.Full && routesOnly(req.ConfigsUpdated) && !req.Forced {
		return slices.DeleteFunc(types, func(t string) bool { return t == EndpointType })
	}
	if req.Full {
		return types
	}
	for _, t := range types {
		if t == EndpointType {
			return []string{EndpointType}
		}
	}
	return nil
}

// deliver runs a push on a connection: the proxy is refreshed on full pushes, then each
// affected type is responded to in push order. respond reports whether it sent anything;
// force makes it send even what the proxy already has.
//
// Clusters sent are always followed by endpoints, changed or not: Envoy keeps an updated
// EDS cluster warming until a ClusterLoadAssignment for it arrives (xDS protocol,
// "Resource warming"), and its request for them repeats the names it has, which is an
// ACK that gets no answer. istiod's full pushes always carry EDS for the same reason.
func (c *Connection) deliver(req *model.PushRequest, respond func(typeURL string, force bool) (bool, error)) error {
	var before, after *model.Proxy
	if req.Full {
		before = c.proxy()
		after = c.refreshProxy(req.Push)
	}
	types := c.typesToPush(req)
	clustersSent := false
	for _, t := range types {
		if before != nil && !req.Forced && unchangedType(t, req, before, after) {
			continue
		}
		sent, err := respond(t, t == EndpointType && clustersSent)
		if err != nil {
			return err
		}
		if t == ClusterType && sent {
			clustersSent = true
			if !slices.Contains(types, EndpointType) && c.watch(EndpointType) != nil {
				if _, err := respond(EndpointType, true); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// unchangedType reports whether a full push cannot change the proxy's resources of type
// t, its scope going from before to after: clusters depend on the scope's services, not
// on routes; listeners on them and on tcp/tls routes only; routes and listeners read of
// DestinationRules only what DestinationRulesSpareRoutes compares.
func unchangedType(t string, req *model.PushRequest, before, after *model.Proxy) bool {
	if !model.SameScopeServices(before.SidecarScope, after.SidecarScope) {
		return false
	}
	switch {
	case routesOnly(req.ConfigsUpdated):
		return t == ClusterType || (t == ListenerType && req.Push.HTTPRouteChangesOnly())
	case t == ListenerType || t == RouteType:
		return req.Push.DestinationRulesSpareRoutes(before.SidecarScope, after.SidecarScope)
	}
	return false
}

// generated is one type generated for a connection: every resource, or with delta those
// that may have changed and the names of those gone (DeltaGenerator).
type generated struct {
	es      []Resource
	removed []string
	delta   bool
}

// generateFor builds one type for a connection from the push's PushContext, or the
// current one when answering a request (req nil); with delta, as changes if the type's
// generator can. A failure is logged and skips the response: the proxy keeps what it has.
func (s *Server) generateFor(c *Connection, typeURL string, req *model.PushRequest, delta bool) (generated, bool) {
	pc := s.PushContext()
	if req != nil && req.Push != nil {
		pc = req.Push
	}
	g, err := s.generate(c, c.proxy(), pc, typeURL, req, delta)
	if errors.Is(err, errNothingToSend) {
		return g, false
	}
	if err != nil {
		s.log.Error(err, "generate", "conn", c.ID, "type", ShortName(typeURL))
		return g, false
	}
	return g, true
}

// generate builds one type for a connection.
func (s *Server) generate(c *Connection, p *model.Proxy, pc *model.PushContext, typeURL string, req *model.PushRequest, delta bool) (generated, error) {
	var g generated
	gen := s.generators[typeURL]
	if gen == nil {
		return g, fmt.Errorf("no generator for %s", typeURL)
	}
	w := c.watch(typeURL)
	var names []string
	if w != nil && !w.Wildcard {
		names = w.Names
		if typeURL == EndpointType && req != nil && req.EndpointHosts != nil {
			names = endpointSubset(names, req.EndpointHosts)
			if len(names) == 0 {
				return g, errNothingToSend
			}
		}
	}
	s.generating <- struct{}{}
	start := s.opts.Clock.Now()
	var rs []Resource
	var err error
	if dg, ok := gen.(DeltaGenerator); ok && delta {
		rs, g.removed, g.delta, err = dg.GenerateDelta(pc, p, names, req)
	} else {
		rs, err = gen.Generate(pc, p, names, req)
	}
	if err == nil {
		err = encode(rs)
		g.es = rs
	}
	<-s.generating
	if err != nil {
		return g, err
	}
	size := 0
	for _, e := range g.es {
		size += len(e.Any.Value)
	}
	s.metrics.configSize.WithLabelValues(ShortName(typeURL)).Observe(float64(size))
	s.metrics.generateTime.WithLabelValues(ShortName(typeURL)).Observe(s.opts.Clock.Since(start).Seconds())
	return g, nil
}

// pushFor decides what a push must regenerate for a connection: requests without keys
// (mesh config, first push) and forced ones reach everyone; otherwise the PushContext
// says, from what changed, whether the proxy's config can have changed
// (model.PushContext.PushFor).
func pushFor(c *Connection, req *model.PushRequest) model.PushKind {
	kind := model.EndpointsPush
	if req.Full {
		kind = model.FullPush
	}
	if req.Forced || len(req.ConfigsUpdated) == 0 {
		return kind
	}
	p := c.proxy()
	if p == nil || p.SidecarScope == nil {
		return kind
	}
	return req.Push.PushFor(p, req.Full)
}

// routesOnly reports whether every changed key is of a kind that only changes routes
// (and the listeners and clusters routes bring in), never endpoints: istiod skips EDS for
// them too.
func routesOnly(keys map[config.Key]struct{}) bool {
	if len(keys) == 0 {
		return false
	}
	for k := range keys {
		if k.Kind != schema.VirtualService && k.Kind != schema.Gateway {
			return false
		}
	}
	return true
}

// endpointSubset returns the EDS cluster names among names whose hostname (the last
// "|" field of an outbound cluster name) is in hosts.
func endpointSubset(names []string, hosts map[host.Name]bool) []string {
	out := []string{}
	if len(hosts) == 1 {
		// One host (a DestinationRule's, a ServiceEntry's): each name's tail is compared
		// with it, where hashing every name's hostname cost more than the push it selects
		// for (hostnames have no "|").
		for h := range hosts {
			for _, n := range names {
				if tail := len(n) - len(h); tail > 0 && n[tail-1] == '|' && n[tail:] == string(h) {
					out = append(out, n)
				}
			}
		}
		return out
	}
	for _, n := range names {
		if i := strings.LastIndexByte(n, '|'); i >= 0 && hosts[host.Name(n[i+1:])] {
			out = append(out, n)
		}
	}
	return out
}
