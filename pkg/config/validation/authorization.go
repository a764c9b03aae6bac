package validation

import (
	"strings"

	securityv1beta1 "istio.io/api/security/v1beta1"

	"github.com/sextant-mesh/sextant/pkg/config"
)

// validateAuthorizationPolicy applies istiod's AuthorizationPolicy rules: one way of
// selecting workloads, what CUSTOM, DENY and providers require, and each rule's sources,
// operations and conditions. It warns about DENY rules that, using only HTTP attributes,
// deny all TCP traffic.
func validateAuthorizationPolicy(c *config.Config, r *report) {
	ap, ok := specAs[*securityv1beta1.AuthorizationPolicy](c, r)
	if !ok {
		return
	}
	checkPolicyTargets(r, ap.GetSelector(), ap.GetTargetRef(), ap.GetTargetRefs())
	custom := ap.Action == securityv1beta1.AuthorizationPolicy_CUSTOM
	if custom {
		checkCustomAction(r, ap)
	} else if ap.GetProvider() != nil {
		r.errorf("spec.provider", "`provider` must not be with non CUSTOM action, found %s", ap.Action)
	}
	if ap.Action == securityv1beta1.AuthorizationPolicy_DENY && ap.Rules == nil {
		r.errorf("spec.rules", "DENY action without `rules` is meaningless as it will never be triggered, "+
			"add an empty rule `{}` if you want it be triggered for every request")
	}
	for i, rule := range ap.Rules {
		p := path("spec.rules").index(i)
		if rule == nil {
			r.errorf(p, "`rule` must not be nil, found at rule %d", i)
			continue
		}
		httpOnly := checkRule(r, p, i, rule)
		if httpOnly && ap.Action == securityv1beta1.AuthorizationPolicy_DENY {
			r.warnf(p, "configured AuthorizationPolicy will deny all traffic to TCP ports under its scope due to the "+
				"use of only HTTP attributes in a DENY rule; it is recommended to explicitly specify the port")
		}
	}
}

// checkCustomAction applies what CUSTOM (external authorization) requires: rules, a
// provider, and no conditions on peer identity or request authentication, which the
// external authorizer does not see.
func checkCustomAction(r *report, ap *securityv1beta1.AuthorizationPolicy) {
	if ap.Rules == nil {
		r.errorf("spec.rules", "CUSTOM action without `rules` is meaningless as it will never be triggered, "+
			"add an empty rule `{}` if you want it be triggered for every request")
	} else if ap.GetProvider().GetName() == "" {
		r.errorf("spec.provider.name", "`provider.name` must not be empty")
	}
	for i, rule := range ap.Rules {
		p := path("spec.rules").index(i)
		for j, from := range rule.GetFrom() {
			src := from.GetSource()
			if src == nil {
				continue
			}
			for _, f := range sourceFields(src) {
				if len(f.values) != 0 && f.name != "ipBlocks" && f.name != "notIpBlocks" &&
					f.name != "remoteIpBlocks" && f.name != "notRemoteIpBlocks" {
					r.errorf(p.field("from").index(j).field("source").field(f.name),
						"%s is currently not supported with CUSTOM action", f.name)
				}
			}
		}
		for j, when := range rule.GetWhen() {
			wp := p.field("when").index(j)
			if when == nil {
				r.errorf(wp, "when field cannot be nil")
				continue
			}
			switch k := when.Key; {
			case k == "source.namespace", k == "source.serviceAccount", k == "source.trustDomain",
				k == "source.principal", strings.HasPrefix(k, "request.auth."):
				r.errorf(wp.field("key"), "%s is currently not supported with CUSTOM action", k)
			}
		}
	}
}

// valueKind says which checks apply to the values of a source or operation field.
type valueKind int

const (
	plainValues          valueKind = iota // non-empty strings
	ipValues                              // IPs or CIDR blocks
	serviceAccountValues                  // [namespace/]serviceAccount, no wildcards, at most 16
	trustDomainValues                     // at most one leading or trailing "*", no "/"
	portValues                            // port numbers
	pathValues                            // paths, possibly templates ({*}, {**})
)

type valuesField struct {
	name   string
	values []string
	kind   valueKind
}

func sourceFields(s *securityv1beta1.Source) []valuesField {
	return []valuesField{
		{"principals", s.Principals, plainValues}, {"notPrincipals", s.NotPrincipals, plainValues},
		{"requestPrincipals", s.RequestPrincipals, plainValues}, {"notRequestPrincipals", s.NotRequestPrincipals, plainValues},
		{"namespaces", s.Namespaces, plainValues}, {"notNamespaces", s.NotNamespaces, plainValues},
		{"serviceAccounts", s.ServiceAccounts, serviceAccountValues},
		{"notServiceAccounts", s.NotServiceAccounts, serviceAccountValues},
		{"trustDomains", s.TrustDomains, trustDomainValues}, {"notTrustDomains", s.NotTrustDomains, trustDomainValues},
		{"ipBlocks", s.IpBlocks, ipValues}, {"notIpBlocks", s.NotIpBlocks, ipValues},
		{"remoteIpBlocks", s.RemoteIpBlocks, ipValues}, {"notRemoteIpBlocks", s.NotRemoteIpBlocks, ipValues},
	}
}

func operationFields(o *securityv1beta1.Operation) []valuesField {
	return []valuesField{
		{"hosts", o.Hosts, plainValues}, {"notHosts", o.NotHosts, plainValues},
		{"ports", o.Ports, portValues}, {"notPorts", o.NotPorts, portValues},
		{"methods", o.Methods, plainValues}, {"notMethods", o.NotMethods, plainValues},
		{"paths", o.Paths, pathValues}, {"notPaths", o.NotPaths, pathValues},
	}
}

// checkRule checks one rule and reports whether it only uses HTTP attributes (so that,
// in a DENY policy, it would deny all TCP traffic).
func checkRule(r *report, p path, i int, rule *securityv1beta1.Rule) (httpOnly bool) {
	if rule.From != nil && len(rule.From) == 0 {
		r.errorf(p.field("from"), "`from` must not be empty, found at rule %d", i)
	}
	hasFrom, tcpFrom := false, false
	for j, from := range rule.From {
		fp := p.field("from").index(j)
		if from == nil || from.Source == nil {
			r.errorf(fp.field("source"), "`from.source` must not be nil, found at rule %d", i)
			continue
		}
		hasFrom = true
		tcpFrom = checkSource(r, fp.field("source"), i, from.Source) || tcpFrom
	}
	if rule.To != nil && len(rule.To) == 0 {
		r.errorf(p.field("to"), "`to` must not be empty, found at rule %d", i)
	}
	hasTo, tcpTo := false, false
	for j, to := range rule.To {
		tp := p.field("to").index(j)
		if to == nil || to.Operation == nil {
			r.errorf(tp.field("operation"), "`to.operation` must not be nil, found at rule %d", i)
			continue
		}
		hasTo = true
		op := to.Operation
		if len(op.Ports)+len(op.NotPorts)+len(op.Methods)+len(op.NotMethods)+len(op.Paths)+len(op.NotPaths)+
			len(op.Hosts)+len(op.NotHosts) == 0 {
			r.errorf(tp.field("operation"), "`to.operation` must not be empty, found at rule %d", i)
		}
		for _, f := range operationFields(op) {
			checkValues(r, tp.field("operation").field(f.name), f)
		}
		tcpTo = tcpTo || op.Ports != nil || op.NotPorts != nil
	}
	for j, cond := range rule.When {
		checkCondition(r, p.field("when").index(j), cond)
	}
	return (hasFrom && !hasTo && !tcpFrom) || (hasTo && !tcpTo)
}

// checkSource checks one source and reports whether it uses TCP attributes.
func checkSource(r *report, p path, i int, src *securityv1beta1.Source) (tcp bool) {
	if len(src.Principals)+len(src.NotPrincipals)+len(src.Namespaces)+len(src.NotNamespaces) > 0 &&
		len(src.ServiceAccounts)+len(src.NotServiceAccounts) > 0 {
		r.errorf(p, "cannot set serviceAccounts with namespaces or principals, found at rule %d", i)
	}
	empty := true
	for _, f := range sourceFields(src) {
		if len(f.values) > 0 {
			empty = false
		}
		checkValues(r, p.field(f.name), f)
		switch f.name {
		case "requestPrincipals", "notRequestPrincipals", "trustDomains", "notTrustDomains":
		default:
			tcp = tcp || f.values != nil
		}
	}
	if empty {
		r.errorf(p, "`from.source` must not be empty, found at rule %d", i)
	}
	return tcp
}

// checkValues checks the values of one source or operation field.
func checkValues(r *report, p path, f valuesField) {
	if f.kind == serviceAccountValues && len(f.values) > 16 {
		r.errorf(p, "may not have more than 16 values")
	}
	for i, v := range f.values {
		vp := p.index(i)
		if v == "" {
			r.errorf(vp, "empty value not allowed, found in %s", f.name)
			continue
		}
		switch f.kind {
		case ipValues:
			r.add(vp, checkAuthzIP(v))
		case serviceAccountValues:
			r.add(vp, checkServiceAccount(v))
		case trustDomainValues:
			r.add(vp, checkWildcardValue(v))
			if strings.Contains(v, "/") {
				r.errorf(vp, "trust domain must not contain '/', found %q", v)
			}
		case portValues:
			r.add(vp, checkAuthzPort(v))
		case pathValues:
			r.add(vp, checkPathTemplate(v))
		}
	}
}

// checkCondition checks a "when" condition: a known key and values valid for it. A key
// istiod does not support is reported once, on the key.
func checkCondition(r *report, p path, c *securityv1beta1.Condition) {
	if c.GetKey() == "" {
		r.errorf(p.field("key"), "`key` must not be empty")
		return
	}
	if len(c.GetValues()) == 0 && len(c.GetNotValues()) == 0 {
		r.errorf(p, "at least one of `values` or `notValues` must be set for key %s", c.Key)
		return
	}
	if err := checkAttributeKey(c.Key); err != nil {
		r.errorf(p.field("key"), "invalid `key` %s: %v", c.Key, err)
		return
	}
	if err := checkAttributeValues(c.Key, c.GetValues()); err != nil {
		r.errorf(p.field("values"), "invalid `value` for `key` %s: %v", c.Key, err)
	}
	if err := checkAttributeValues(c.Key, c.GetNotValues()); err != nil {
		r.errorf(p.field("notValues"), "invalid `notValue` for `key` %s: %v", c.Key, err)
	}
}

// validateDryRun checks the istio.io/dry-run annotation of an AuthorizationPolicy: a
// boolean, on an ALLOW or DENY policy.
func validateDryRun(c *config.Config, val string, p path, r *report) {
	ap, ok := c.Spec.(*securityv1beta1.AuthorizationPolicy)
	if !ok {
		return
	}
	switch ap.Action {
	case securityv1beta1.AuthorizationPolicy_ALLOW, securityv1beta1.AuthorizationPolicy_DENY:
		if err := parseBool(val); err != nil {
			r.errorf(p, "annotation %s has an invalid value: %v", annotationDryRun, err)
		}
	default:
		r.errorf(p, "the annotation %s currently only supports action ALLOW/DENY, found action %v", annotationDryRun, ap.Action)
	}
}
