package model

import (
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/host"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

// ConsolidatedDestinationRule is the DestinationRule that applies to one host for one
// client namespace, with the keys of the objects it was merged from.
type ConsolidatedDestinationRule struct {
	// Rule is the effective rule; its Spec is a *networkingv1alpha3.DestinationRule with
	// the host fully qualified. It must not be altered.
	Rule *config.Config
	From []config.Key
}

// Spec returns the rule's spec.
func (c *ConsolidatedDestinationRule) Spec() *networkingv1alpha3.DestinationRule {
	if c == nil {
		return nil
	}
	return c.Rule.Spec.(*networkingv1alpha3.DestinationRule)
}

// destinationRuleIndex holds DestinationRules by namespace and host.
type destinationRuleIndex struct {
	// byNamespace[ns][host] lists the rules defined in ns for host, oldest first.
	byNamespace map[string]map[host.Name][]*config.Config
}

func buildDestinationRuleIndex(store *Store, pc *PushContext, _ *[]error) *destinationRuleIndex {
	idx := &destinationRuleIndex{byNamespace: map[string]map[host.Name][]*config.Config{}}
	for _, c := range store.List(schema.DestinationRule, "") {
		dr := c.Spec.(*networkingv1alpha3.DestinationRule)
		h := ResolveShortname(dr.Host, c.Namespace, pc.Options.DomainSuffix)
		if idx.byNamespace[c.Namespace] == nil {
			idx.byNamespace[c.Namespace] = map[host.Name][]*config.Config{}
		}
		idx.byNamespace[c.Namespace][h] = append(idx.byNamespace[c.Namespace][h], c)
	}
	return idx
}

// destinationRuleFor finds the rule for svc as seen from proxy namespace ns: the proxy's
// namespace first, then the service's namespace, then the root namespace, each only if
// exported to ns.
func (pc *PushContext) destinationRuleFor(ns string, svc *Service) *ConsolidatedDestinationRule {
	for _, owner := range []string{ns, svc.Namespace, pc.RootNamespace()} {
		if dr := pc.destinationRules.lookup(owner, svc.Hostname, ns, pc.exportDefaults.destinationRule); dr != nil {
			return dr
		}
	}
	return nil
}

func (idx *destinationRuleIndex) lookup(owner string, h host.Name, client string, defaults map[string]bool) *ConsolidatedDestinationRule {
	byHost := idx.byNamespace[owner]
	if byHost == nil {
		return nil
	}
	best, found := host.Name(""), false
	for candidate := range byHost {
		if candidate.Matches(h) && (!found || host.MoreSpecific(candidate, best)) {
			best, found = candidate, true
		}
	}
	if !found {
		return nil
	}
	for _, c := range byHost[best] {
		dr := c.Spec.(*networkingv1alpha3.DestinationRule)
		exp := ExportSet(dr.ExportTo)
		if len(exp) == 0 {
			exp = defaults
		}
		if owner == client || visible(exp, owner, client) {
			return &ConsolidatedDestinationRule{Rule: c, From: []config.Key{c.Key()}}
		}
	}
	return nil
}
