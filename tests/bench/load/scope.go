package load

import (
	"sort"
	"strings"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

// scopes answers, from the Sidecars of the generated mesh, which hosts a proxy imports,
// by the rules istiod and Sextant share: a proxy uses the Sidecar of its namespace whose
// workloadSelector matches its labels (the first by name if several do; the generator
// never makes several match), else its namespace's Sidecar without a selector, else the
// root namespace's Sidecar without a selector, else none (it imports every host).
//
// A change to a host affects exactly the proxies that import it: the host's clusters,
// endpoints and routes are in their config and nobody else's. Changes here are made to
// objects in the host's own namespace, so config visibility (exportTo) is never the
// limit.
type scopes struct {
	root string
	// selecting and wide are the Sidecars of each namespace with and without a
	// workloadSelector, by name.
	selecting map[string][]*config.Config
	wide      map[string]*config.Config
}

func newScopes(configs []*config.Config, root string) *scopes {
	s := &scopes{root: root, selecting: map[string][]*config.Config{}, wide: map[string]*config.Config{}}
	for _, c := range configs {
		if c.Kind != schema.Sidecar {
			continue
		}
		if c.Spec.(*networkingv1alpha3.Sidecar).GetWorkloadSelector() != nil {
			s.selecting[c.Namespace] = append(s.selecting[c.Namespace], c)
		} else if w := s.wide[c.Namespace]; w == nil || c.Name < w.Name {
			s.wide[c.Namespace] = c
		}
	}
	for _, cs := range s.selecting {
		sort.Slice(cs, func(i, j int) bool { return cs[i].Name < cs[j].Name })
	}
	return s
}

// sidecar returns the Sidecar a proxy of namespace ns with labels uses, or nil.
func (s *scopes) sidecar(ns string, labels map[string]string) *config.Config {
	for _, c := range s.selecting[ns] {
		if selects(c.Spec.(*networkingv1alpha3.Sidecar).GetWorkloadSelector().GetLabels(), labels) {
			return c
		}
	}
	if c := s.wide[ns]; c != nil {
		return c
	}
	return s.wide[s.root]
}

func selects(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// imports reports whether a proxy using Sidecar sc (nil: none) imports host, a service
// of namespace hostNS.
func imports(sc *config.Config, hostNS, host string) bool {
	if sc == nil {
		return true
	}
	egress := sc.Spec.(*networkingv1alpha3.Sidecar).GetEgress()
	if len(egress) == 0 {
		return true // no egress section: the default, */*
	}
	for _, l := range egress {
		for _, h := range l.GetHosts() {
			ns, name, ok := strings.Cut(h, "/")
			if !ok {
				ns, name = "*", h
			}
			if namespaceMatches(ns, sc.Namespace, hostNS) && hostMatches(name, host) {
				return true
			}
		}
	}
	return false
}

func namespaceMatches(pattern, sidecarNS, ns string) bool {
	switch pattern {
	case "*":
		return true
	case ".":
		return ns == sidecarNS
	case "~":
		return false
	}
	return pattern == ns
}

func hostMatches(pattern, host string) bool {
	switch {
	case pattern == "*":
		return true
	case strings.HasPrefix(pattern, "*."):
		return strings.HasSuffix(host, pattern[1:])
	}
	return pattern == host
}
