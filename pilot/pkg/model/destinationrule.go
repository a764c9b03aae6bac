package model

import (
	"google.golang.org/protobuf/proto"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	"maps"
	"slices"
	"sync"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/host"
	"github.com/sextant-mesh/sextant/pkg/config/labels"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

// ConsolidatedDestinationRule is the DestinationRule that applies to one host for one
// client namespace, with the keys of the objects it was merged from.
type ConsolidatedDestinationRule struct {
	// Rule is the effective rule; its Spec is a *networkingv1alpha3.DestinationRule with
	// the host fully qualified. When several rules were merged, Rule carries the metadata
	// of the oldest one. It must not be altered.
	Rule *config.Config
	From []config.Key

	// exportTo is the rule's exportTo set ({"."} for rules with a workloadSelector).
	exportTo map[string]bool
}

// Spec returns the rule's spec.
func (c *ConsolidatedDestinationRule) Spec() *networkingv1alpha3.DestinationRule {
	if c == nil {
		return nil
	}
	return c.Rule.Spec.(*networkingv1alpha3.DestinationRule)
}

// destinationRuleIndex holds DestinationRules the way istiod indexes them: per namespace,
// the rules a proxy of that namespace sees first (namespaceLocal), the rules the
// namespace exports to others (exported), and the root namespace's private rules.
// Rules for the same host are merged as they are added, oldest first.
type destinationRuleIndex struct {
	namespaceLocal map[string]*hostRules
	exported       map[string]*hostRules
	rootLocal      *hostRules
	// hosts are every DestinationRule's resolved host, so that a change can be matched
	// against SidecarScopes after the object is gone. A full build leaves them to hostOf,
	// which indexes built (the rules it added) on first use: only change detection and
	// derives read them.
	hosts     map[config.Key]host.Name
	hostsOnce sync.Once
	built     []*compiledRule
	// selectors are the namespaces with a rule that has a workload selector: only there
	// does a proxy's rule for a service depend on its labels.
	selectors map[string]bool
}

// hostRules holds consolidated rules by exact and wildcard host.
type hostRules struct {
	specific map[host.Name][]*ConsolidatedDestinationRule
	wildcard map[host.Name][]*ConsolidatedDestinationRule
}

func newHostRules() *hostRules {
	return &hostRules{
		specific: map[host.Name][]*ConsolidatedDestinationRule{},
		wildcard: map[host.Name][]*ConsolidatedDestinationRule{},
	}
}

func buildDestinationRuleIndex(store *Store, pc *PushContext, _ *[]error) *destinationRuleIndex {
	idx := &destinationRuleIndex{
		namespaceLocal: map[string]*hostRules{},
		exported:       map[string]*hostRules{},
		rootLocal:      newHostRules(),
		selectors:      map[string]bool{},
	}
	idx.built = idx.addAll(store, store.List(schema.DestinationRule, ""), pc)
	return idx
}

// hostMap returns every rule's resolved host by key.
func (idx *destinationRuleIndex) hostMap() map[config.Key]host.Name {
	idx.hostsOnce.Do(func() {
		if idx.hosts != nil {
			return // a derived index's, filled as it was derived
		}
		idx.hosts = make(map[config.Key]host.Name, len(idx.built))
		for _, cr := range idx.built {
			idx.hosts[cr.rule.Key()] = host.Name(cr.rule.Spec.(*networkingv1alpha3.DestinationRule).GetHost())
		}
	})
	return idx.hosts
}

// hostOf returns the resolved host of the DestinationRule k, and whether the index has
// it.
func (idx *destinationRuleIndex) hostOf(k config.Key) (host.Name, bool) {
	h, ok := idx.hostMap()[k]
	return h, ok
}

// derive returns the index after DestinationRule changes: a rule only enters its own
// namespace's sets (and the root's private set), so the namespaces with a changed rule
// are indexed again - their unchanged consolidated rules keeping their pointers (reuse)
// - and the others are shared with idx.
func (idx *destinationRuleIndex) derive(store *Store, pc *PushContext, changed map[config.Key]struct{}) *destinationRuleIndex {
	namespaces := map[string]bool{}
	next := &destinationRuleIndex{
		namespaceLocal: maps.Clone(idx.namespaceLocal),
		exported:       maps.Clone(idx.exported),
		rootLocal:      idx.rootLocal,
		hosts:          maps.Clone(idx.hostMap()),
		selectors:      maps.Clone(idx.selectors),
	}
	for k := range changed {
		if k.Kind != schema.DestinationRule {
			continue
		}
		namespaces[k.Namespace] = true
		delete(next.hosts, k)
	}
	root := pc.RootNamespace()
	var cs []*config.Config
	for ns := range namespaces {
		delete(next.namespaceLocal, ns)
		delete(next.exported, ns)
		delete(next.selectors, ns)
		if ns == root {
			next.rootLocal = newHostRules()
		}
		cs = append(cs, store.List(schema.DestinationRule, ns)...)
	}
	SortConfigs(cs)
	next.addAll(store, cs, pc)
	for ns := range namespaces {
		next.namespaceLocal[ns].reuse(idx.namespaceLocal[ns], changed)
		next.exported[ns].reuse(idx.exported[ns], changed)
	}
	if namespaces[root] {
		next.rootLocal.reuse(idx.rootLocal, changed)
	}
	return next
}

// addAll indexes the DestinationRules cs (in SortConfigs order): rules with a workload
// selector first, as istiod merges them. It records their hosts when the index has its
// host map (a derive), and returns the rules as compiled.
func (idx *destinationRuleIndex) addAll(store *Store, cs []*config.Config, pc *PushContext) []*compiledRule {
	root := pc.RootNamespace()
	cs = sortDestinationRules(cs)
	compiled := store.compiledAll(cs, pc.compileContext())
	out := make([]*compiledRule, len(cs))
	for i := range cs {
		cr := compiled[i].(*compiledRule)
		out[i] = cr
		c, exp := cr.rule, cr.exportTo
		dr := c.Spec.(*networkingv1alpha3.DestinationRule)
		if idx.hosts != nil {
			idx.hosts[c.Key()] = host.Name(dr.GetHost())
		}
		if dr.GetWorkloadSelector() != nil {
			idx.selectors[c.Namespace] = true
		}
		if len(exp) == 0 || exp["*"] || exp["."] || exp[c.Namespace] {
			ruleSet(idx.namespaceLocal, c.Namespace).add(c, exp)
		}
		privateOnly := (len(exp) == 0 && pc.exportDefaults.destinationRule["."]) ||
			(len(exp) == 1 && (exp["."] || exp[c.Namespace]))
		switch {
		case !privateOnly:
			ruleSet(idx.exported, c.Namespace).add(c, exp)
		case c.Namespace == root:
			idx.rootLocal.add(c, exp)
		}
	}
	return out
}

// reuse replaces each consolidated rule of hr by prev's at the same host and position
// when both were merged from the same objects, in the same order, and none of them
// changed: the content is then identical, and keeping the old pointer lets readers that
// key on it (the cluster cache) tell the rule did not change.
func (hr *hostRules) reuse(prev *hostRules, changed map[config.Key]struct{}) {
	if hr == nil || prev == nil {
		return
	}
	for _, pair := range [2][2]map[host.Name][]*ConsolidatedDestinationRule{{hr.specific, prev.specific}, {hr.wildcard, prev.wildcard}} {
		for h, rs := range pair[0] {
			olds := pair[1][h]
			if len(olds) != len(rs) {
				continue
			}
			for i, r := range rs {
				if sameSources(r, olds[i], changed) {
					rs[i] = olds[i]
				}
			}
		}
	}
}

// sameSources reports whether a and b were merged from the same unchanged objects in the
// same order with the same exportTo.
func sameSources(a, b *ConsolidatedDestinationRule, changed map[config.Key]struct{}) bool {
	if !slices.Equal(a.From, b.From) || !setsEqual(a.exportTo, b.exportTo) {
		return false
	}
	for _, k := range a.From {
		if _, ok := changed[k]; ok {
			return false
		}
	}
	return true
}

func ruleSet(m map[string]*hostRules, ns string) *hostRules {
	if m[ns] == nil {
		m[ns] = newHostRules()
	}
	return m[ns]
}

// sortDestinationRules orders rules as istiod merges them: those with a workloadSelector
// first, then oldest first (then by name and namespace).
func sortDestinationRules(cs []*config.Config) []*config.Config {
	var withSelector, without []*config.Config
	for _, c := range cs {
		if c.Spec.(*networkingv1alpha3.DestinationRule).GetWorkloadSelector() != nil {
			withSelector = append(withSelector, c)
		} else {
			without = append(without, c)
		}
	}
	return append(withSelector, without...)
}

// compiledRule is a DestinationRule as the store compiles it: host resolved, and the
// namespaces it is exported to ({"."} for rules with a workload selector).
type compiledRule struct {
	rule     *config.Config
	exportTo map[string]bool
}

// compileDestinationRule is the DestinationRule compiler (see Store).
func compileDestinationRule(c *config.Config, ctx compileContext) any {
	c = resolveDestinationRule(c, ctx.domainSuffix)
	dr := c.Spec.(*networkingv1alpha3.DestinationRule)
	exp := ExportSet(dr.ExportTo)
	if dr.GetWorkloadSelector() != nil {
		exp = map[string]bool{".": true}
	}
	return &compiledRule{rule: c, exportTo: exp}
}

// resolveDestinationRule returns a copy of c whose host is fully qualified relative to c's
// namespace.
func resolveDestinationRule(c *config.Config, domain string) *config.Config {
	dr := c.Spec.(*networkingv1alpha3.DestinationRule)
	h := ResolveShortname(dr.Host, c.Namespace, domain)
	if string(h) == dr.Host {
		return c
	}
	cp := proto.Clone(dr).(*networkingv1alpha3.DestinationRule)
	cp.Host = string(h)
	out := *c
	out.Spec = cp
	return &out
}

// add merges rule c into the rules for its host, as istiod does: a rule with the same
// exportTo (or a wider one) and compatible workload selectors is merged into the existing
// consolidated rule - its subsets are appended unless their names are taken, and its
// traffic policy is used only if the existing rule has none; otherwise it is kept as a
// separate entry.
func (hr *hostRules) add(c *config.Config, exp map[string]bool) {
	dr := c.Spec.(*networkingv1alpha3.DestinationRule)
	h := host.Name(dr.Host)
	byHost := hr.specific
	if h.IsWildcard() {
		byHost = hr.wildcard
	}
	existing := byHost[h]
	separate := true
	for _, cur := range existing {
		switch {
		case setsEqual(exp, cur.exportTo):
			separate = false
		case len(cur.exportTo) > 0 && supersetOf(exp, cur.exportTo):
			separate = true
		default:
			separate = true
			continue
		}
		curSpec := cur.Spec()
		bothWith := dr.GetWorkloadSelector() != nil && curSpec.GetWorkloadSelector() != nil
		bothWithout := dr.GetWorkloadSelector() == nil && curSpec.GetWorkloadSelector() == nil
		sameSelector := labelsEqual(dr.GetWorkloadSelector().GetMatchLabels(), curSpec.GetWorkloadSelector().GetMatchLabels())
		if bothWith && !sameSelector {
			separate = true
			continue
		}
		if bothWithout || bothWith {
			separate = false
		}
		cur.merge(c)
	}
	if separate {
		byHost[h] = append(existing, &ConsolidatedDestinationRule{Rule: c, From: []config.Key{c.Key()}, exportTo: exp})
	}
}

// merge folds rule c into cur without altering either's original spec.
func (cur *ConsolidatedDestinationRule) merge(c *config.Config) {
	in := c.Spec.(*networkingv1alpha3.DestinationRule)
	merged := proto.Clone(cur.Spec()).(*networkingv1alpha3.DestinationRule)
	names := map[string]bool{}
	for _, s := range merged.Subsets {
		names[s.Name] = true
	}
	for _, s := range in.Subsets {
		if !names[s.Name] {
			merged.Subsets = append(merged.Subsets, s)
			names[s.Name] = true
		}
	}
	if merged.TrafficPolicy == nil && in.TrafficPolicy != nil {
		merged.TrafficPolicy = in.TrafficPolicy
	}
	rule := *cur.Rule
	rule.Spec = merged
	cur.Rule = &rule
	cur.From = append(cur.From, c.Key())
}

func labelsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func setsEqual(a, b map[string]bool) bool {
	return len(a) == len(b) && supersetOf(a, b)
}

func supersetOf(a, b map[string]bool) bool {
	for k := range b {
		if !a[k] {
			return false
		}
	}
	return true
}

// match returns the consolidated rules of the most specific host matching h.
func (hr *hostRules) match(h host.Name) ([]*ConsolidatedDestinationRule, bool) {
	if hr == nil {
		return nil, false
	}
	if h.IsWildcard() {
		if rs, ok := hr.wildcard[h]; ok {
			return rs, true
		}
	} else if rs, ok := hr.specific[h]; ok {
		return rs, true
	}
	best, found := host.Name(""), false
	for w := range hr.wildcard {
		if w.Matches(h) && (!found || host.MoreSpecific(w, best)) {
			best, found = w, true
		}
	}
	return hr.wildcard[best], found
}

// candidates lists the consolidated rules for svc as a proxy in namespace ns sees them:
// the proxy's namespace first (the root namespace's private rules for proxies in the root
// namespace), then rules exported by the service's namespace, then by the root namespace.
func (pc *PushContext) destinationRuleCandidates(ns string, svc *Service) []*ConsolidatedDestinationRule {
	idx, root := pc.destinationRules, pc.RootNamespace()
	local := idx.namespaceLocal[ns]
	if ns == root {
		local = idx.rootLocal
	}
	if rs, ok := local.match(svc.Hostname); ok {
		return rs
	}
	for _, owner := range []string{svc.Namespace, root} {
		if owner == "" {
			continue
		}
		if rs := exportedTo(idx.exported[owner], svc.Hostname, ns); len(rs) > 0 {
			return rs
		}
	}
	return nil
}

func exportedTo(hr *hostRules, h host.Name, client string) []*ConsolidatedDestinationRule {
	rs, _ := hr.match(h)
	var out []*ConsolidatedDestinationRule
	for _, r := range rs {
		if len(r.exportTo) == 0 || r.exportTo["*"] || r.exportTo[client] {
			out = append(out, r)
		}
	}
	return out
}

// destinationRuleFor finds the rule for svc as seen from proxy namespace ns, ignoring
// rules with a workloadSelector: the last such catch-all candidate, as istiod picks it.
func (pc *PushContext) destinationRuleFor(ns string, svc *Service) *ConsolidatedDestinationRule {
	var catchAll *ConsolidatedDestinationRule
	for _, r := range pc.destinationRuleCandidates(ns, svc) {
		if r.Spec().GetWorkloadSelector() == nil {
			catchAll = r
		}
	}
	return catchAll
}

// OutboundDestinationRule returns the DestinationRule that applies to traffic from proxy
// p to svc: a rule of p's namespace whose workloadSelector selects p, else the catch-all
// rule its SidecarScope holds for svc. It returns nil when no rule applies.
func (pc *PushContext) OutboundDestinationRule(p *Proxy, svc *Service) *ConsolidatedDestinationRule {
	if !pc.destinationRules.selectors[p.ConfigNamespace] {
		// No rule of the proxy's namespace selects workloads: its scope's rule applies.
		return pc.scopeOrNamespaceRule(p, svc)
	}
	for _, r := range pc.destinationRuleCandidates(p.ConfigNamespace, svc) {
		sel := r.Spec().GetWorkloadSelector()
		if sel != nil && r.Rule.Namespace == p.ConfigNamespace &&
			labels.Instance(sel.GetMatchLabels()).SubsetOf(p.Labels) {
			return r
		}
	}
	return pc.scopeOrNamespaceRule(p, svc)
}

// OutboundRulesFromScope reports whether the outbound DestinationRules of proxy p are
// its SidecarScope's (SidecarScope.DestinationRule), as they are unless a rule of its
// namespace selects workloads.
func (pc *PushContext) OutboundRulesFromScope(p *Proxy) bool {
	return p.SidecarScope != nil && !pc.destinationRules.selectors[p.ConfigNamespace]
}

func (pc *PushContext) scopeOrNamespaceRule(p *Proxy, svc *Service) *ConsolidatedDestinationRule {
	if p.SidecarScope != nil {
		return p.SidecarScope.DestinationRule(svc.Hostname)
	}
	return pc.destinationRuleFor(p.ConfigNamespace, svc)
}
