package xds

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

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
	p.SidecarScope, p.ServiceTargets = nil, nil
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
// affected type is responded to in push order.
func (c *Connection) deliver(req *model.PushRequest, respond func(typeURL string) error) error {
	if req.Full {
		c.refreshProxy(req.Push)
	}
	for _, t := range c.typesToPush(req) {
		if err := respond(t); err != nil {
			return err
		}
	}
	return nil
}

// generateFor builds one type for a connection from the push's PushContext, or the
// current one when answering a request (req nil). A failure is logged and skips the
// response: the proxy keeps what it has.
func (s *Server) generateFor(c *Connection, typeURL string, req *model.PushRequest) ([]encoded, bool) {
	pc := s.PushContext()
	if req != nil && req.Push != nil {
		pc = req.Push
	}
	es, err := s.generate(c, c.proxy(), pc, typeURL, req)
	if err != nil {
		s.log.Error(err, "generate", "conn", c.ID, "type", ShortName(typeURL))
		return nil, false
	}
	return es, true
}

// generate builds one type for a connection.
func (s *Server) generate(c *Connection, p *model.Proxy, pc *model.PushContext, typeURL string, req *model.PushRequest) ([]encoded, error) {
	gen := s.generators[typeURL]
	if gen == nil {
		return nil, fmt.Errorf("no generator for %s", typeURL)
	}
	w := c.watch(typeURL)
	var names []string
	if w != nil && !w.Wildcard {
		names = w.Names
	}
	start := s.opts.Clock.Now()
	rs, err := gen.Generate(pc, p, names, req)
	if err != nil {
		return nil, err
	}
	es, err := encode(rs)
	if err != nil {
		return nil, err
	}
	size := 0
	for _, e := range es {
		size += len(e.any.Value)
	}
	s.metrics.configSize.WithLabelValues(ShortName(typeURL)).Observe(float64(size))
	s.metrics.generateTime.WithLabelValues(ShortName(typeURL)).Observe(s.opts.Clock.Since(start).Seconds())
	return es, nil
}

// affects decides whether a push may change a connection's config. Endpoint-only and
// scoped full pushes skip proxies whose SidecarScope imports nothing that changed; a
// full push without keys (mesh config, first push) affects everyone.
func affects(c *Connection, req *model.PushRequest) bool {
	if req.Forced || len(req.ConfigsUpdated) == 0 {
		return true
	}
	p := c.proxy()
	if p == nil || p.SidecarScope == nil {
		return true
	}
	namespaces := map[string]bool{}
	for _, svc := range p.SidecarScope.Services() {
		namespaces[svc.Namespace] = true
	}
	for k := range req.ConfigsUpdated {
		switch k.Kind {
		case schema.Sidecar:
			if k.Namespace == p.ConfigNamespace || k.Namespace == req.Push.RootNamespace() {
				return true
			}
		case schema.Service, schema.EndpointSlice, schema.ServiceEntry, schema.WorkloadEntry:
			// A new service in a namespace the proxy imports from, or a change to one it
			// imports; services of other namespaces it cannot see are skipped.
			if namespaces[k.Namespace] || k.Namespace == p.ConfigNamespace || importsAll(p) {
				return true
			}
		case schema.Pod:
			if namespaces[k.Namespace] || k.Namespace == p.ConfigNamespace {
				return true
			}
		default:
			return true
		}
	}
	return false
}

// importsAll is true for scopes that import every namespace (no Sidecar, or a */* host):
// any new service anywhere may become visible.
func importsAll(p *model.Proxy) bool {
	for _, l := range p.SidecarScope.EgressListeners {
		if l.IstioListener == nil {
			return true
		}
		for _, h := range l.IstioListener.GetHosts() {
			if len(h) > 1 && h[0] == '*' && h[1] == '/' {
				return true
			}
		}
	}
	return false
}
