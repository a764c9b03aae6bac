package validation

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
)

// Route rules are tried in order, so a rule after a rule without matches, or whose every
// match repeats an earlier one, is never used. istiod accepts such VirtualServices with a
// warning; so does Sextant.

// routeRule is what the reachability analysis needs of an HTTP, TLS or TCP route.
type routeRule struct {
	path    path
	name    string          // how warnings name the rule: "#2" or the route's quoted name
	matches []proto.Message // the match conditions, names cleared
	names   []string        // how warnings name each match
}

// warnUnreachableRules warns about unused rules and ineffective matches of every route list.
func warnUnreachableRules(r *report, vs *networkingv1alpha3.VirtualService) {
	var httpRules, tlsRules, tcpRules []*routeRule
	for i, h := range vs.Http {
		rule := &routeRule{path: path("spec.http").index(i), name: ordinal(h.GetName(), i)}
		for j, m := range h.GetMatch() {
			clean := proto.Clone(m).(*networkingv1alpha3.HTTPMatchRequest)
			clean.Name = ""
			rule.matches = append(rule.matches, clean)
			rule.names = append(rule.names, ordinal(m.GetName(), j))
		}
		httpRules = append(httpRules, rule)
	}
	for i, t := range vs.Tls {
		rule := &routeRule{path: path("spec.tls").index(i), name: ordinal("", i)}
		for j, m := range t.GetMatch() {
			rule.matches, rule.names = append(rule.matches, m), append(rule.names, ordinal("", j))
		}
		tlsRules = append(tlsRules, rule)
	}
	for i, t := range vs.Tcp {
		rule := &routeRule{path: path("spec.tcp").index(i), name: ordinal("", i)}
		for j, m := range t.GetMatch() {
			rule.matches, rule.names = append(rule.matches, m), append(rule.names, ordinal("", j))
		}
		tcpRules = append(tcpRules, rule)
	}
	firsts := warnShadowedRules(r, httpRules)
	warnOverlappingPrefixes(r, vs.Http, firsts)
	warnShadowedRules(r, tlsRules)
	warnShadowedRules(r, tcpRules)
}

// ordinal names a rule or match as istiod's warnings do: by its name, or "#index".
func ordinal(name string, i int) string {
	if name != "" {
		return fmt.Sprintf("%q", name)
	}
	return fmt.Sprintf("#%d", i)
}

// firstMatch locates a match that does not repeat an earlier one.
type firstMatch struct{ rule, match int }

// warnShadowedRules warns about rules after a catch-all rule, about matches that repeat an
// earlier match, and about rules all of whose matches do. It returns the matches that
// were seen first, in order.
func warnShadowedRules(r *report, rules []*routeRule) []firstMatch {
	seen := map[string]int{} // match encoding -> index of the first rule with it
	catchAll := -1
	var firsts []firstMatch
	for ri, rule := range rules {
		if len(rule.matches) == 0 {
			if catchAll >= 0 {
				warnUnused(r, rule, "only the last rule can have no matches")
			}
			catchAll = ri
			continue
		}
		repeated := 0
		for mi, m := range rule.matches {
			if catchAll >= 0 {
				warnUnused(r, rule, "route without matches defined before")
				continue
			}
			key := matchKey(m)
			if prev, ok := seen[key]; ok {
				r.warnf(rule.path.field("match").index(mi), "virtualService rule %v match %v is not used "+
					"(duplicate/overlapping match in rule %v)", rule.name, rule.names[mi], rules[prev].name)
				repeated++
				continue
			}
			seen[key] = ri
			firsts = append(firsts, firstMatch{ri, mi})
		}
		if repeated == len(rule.matches) {
			warnUnused(r, rule, "all matches used by prior rules")
		}
	}
	return firsts
}

func warnUnused(r *report, rule *routeRule, reason string) {
	r.warnf(rule.path, "virtualService rule %v not used (%s)", rule.name, reason)
}

// matchKey encodes a match so that equal matches have equal keys.
func matchKey(m proto.Message) string {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// prefixMatch is a URI prefix match with the other conditions istiod compares when it
// looks for a prefix match that an earlier, shorter prefix match already covers.
type prefixMatch struct {
	at                firstMatch
	rule, match       string
	prefix            string
	port              uint32
	method, authority string
	headers, query    map[string]string
	withoutHeaders    map[string]string
}

// warnOverlappingPrefixes warns about a URI prefix match covered by an earlier match with
// a shorter prefix and the same (or broader) other conditions.
func warnOverlappingPrefixes(r *report, routes []*networkingv1alpha3.HTTPRoute, firsts []firstMatch) {
	var pms []*prefixMatch
	for _, f := range firsts {
		h := routes[f.rule]
		if pm := newPrefixMatch(h, f); pm != nil {
			pms = append(pms, pm)
		}
	}
	for i, a := range pms {
		for _, b := range pms[i+1:] {
			if a.prefix == b.prefix || !a.covers(b) {
				continue
			}
			r.warnf(path("spec.http").index(b.at.rule).field("match").index(b.at.match),
				"virtualService rule %v match %v is not used (duplicate/overlapping match in rule %v)",
				b.rule, b.match+" of prefix "+b.prefix, a.match+" of prefix "+a.prefix+" on "+a.rule)
		}
	}
}

func newPrefixMatch(h *networkingv1alpha3.HTTPRoute, f firstMatch) *prefixMatch {
	m := h.Match[f.match]
	if m.GetUri().GetPrefix() == "" {
		return nil
	}
	method := exactOrPrefix(m.Method)
	if method == "" {
		method = "exact:GET"
	}
	return &prefixMatch{
		at:             f,
		rule:           ordinal(h.GetName(), f.rule),
		match:          ordinal(m.GetName(), f.match),
		prefix:         m.GetUri().GetPrefix(),
		port:           m.Port,
		method:         method,
		authority:      exactOrPrefix(m.Authority),
		headers:        exactOrPrefixMap(m.Headers),
		query:          exactOrPrefixMap(m.QueryParams),
		withoutHeaders: exactOrPrefixMap(m.WithoutHeaders),
	}
}

func exactOrPrefix(s *networkingv1alpha3.StringMatch) string {
	if v := s.GetExact(); v != "" {
		return "exact:" + v
	}
	if v := s.GetPrefix(); v != "" {
		return "prefix:" + v
	}
	return ""
}

func exactOrPrefixMap(m map[string]*networkingv1alpha3.StringMatch) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = exactOrPrefix(v)
	}
	return out
}

// covers reports whether every request b matches is matched by a, comparing conditions
// the way istiod does.
func (a *prefixMatch) covers(b *prefixMatch) bool {
	return strings.HasPrefix(b.prefix, a.prefix) && a.port == b.port &&
		coveredValue(a.method, b.method) && coveredValue(a.authority, b.authority) &&
		coveredMap(a.headers, b.headers) && coveredMap(a.query, b.query) &&
		coveredMap(a.withoutHeaders, b.withoutHeaders)
}

func coveredValue(a, b string) bool { return a == b || strings.HasPrefix(a, b) }

func coveredMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || !coveredValue(v, w) {
			return false
		}
	}
	return true
}
