package validation

import (
	"regexp"
	"strings"

	typev1beta1 "istio.io/api/type/v1beta1"
)

// Label syntax of Istio specs (selectors, subsets, workload labels): Kubernetes label keys,
// optionally DNS-prefixed, and values of the same characters (any length).
const (
	qualifiedNameFmt = "(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
	dnsPrefixFmt     = dnsLabelFmt + `(?:\.` + dnsLabelFmt + `)*/`
	maxDNSPrefixLen  = 253
	maxLabelNameLen  = 63
)

var (
	labelKeyRE   = regexp.MustCompile("^(" + dnsPrefixFmt + ")?(" + qualifiedNameFmt + ")$")
	labelValueRE = regexp.MustCompile("^(" + qualifiedNameFmt + ")?$")
)

// checkLabels checks the keys and values of a label map at p.
func checkLabels(r *report, p path, labels map[string]string) {
	for _, k := range sortedKeys(labels) {
		kp := p.key(k)
		m := labelKeyRE.FindStringSubmatch(k)
		switch {
		case m == nil:
			r.errorf(kp, "invalid tag key: %q", k)
		case len(m[1]) > 0 && len(m[1])-1 > maxDNSPrefixLen:
			r.errorf(kp, "invalid tag key: %q (DNS prefix is too long)", k)
		case len(m[2]) > maxLabelNameLen:
			r.errorf(kp, "invalid tag key: %q (name is too long)", k)
		}
		if !labelValueRE.MatchString(labels[k]) {
			r.errorf(kp, "invalid tag value: %q", labels[k])
		}
	}
}

// checkSelectorLabels checks the labels of a workload selector: no empty keys and no
// wildcards.
func checkSelectorLabels(r *report, p path, labels map[string]string) {
	for _, k := range sortedKeys(labels) {
		v := labels[k]
		if k == "" {
			r.errorf(p.key(k), "empty key is not supported in selector: %q", k+"="+v)
		}
		if strings.Contains(k, "*") || strings.Contains(v, "*") {
			r.errorf(p.key(k), "wildcard is not supported in selector: %q", k+"="+v)
		}
	}
}

// checkWorkloadSelector checks a security/telemetry style selector (matchLabels) at p,
// warning when it is present but empty.
func checkWorkloadSelector(r *report, p path, s *typev1beta1.WorkloadSelector) {
	if s == nil {
		return
	}
	checkSelectorLabels(r, p.field("matchLabels"), s.MatchLabels)
	if len(s.MatchLabels) == 0 {
		r.warnf(p, "workload selector specified without labels")
	}
}

// checkPolicyTargets checks the selection of a policy: at most one of selector, targetRef
// and targetRefs, and each reference to a kind policies can attach to, in the policy's
// own namespace.
func checkPolicyTargets(r *report, sel *typev1beta1.WorkloadSelector, ref *typev1beta1.PolicyTargetReference,
	refs []*typev1beta1.PolicyTargetReference,
) {
	set := 0
	if sel != nil {
		set++
	}
	if ref != nil {
		set++
	}
	if len(refs) > 0 {
		set++
	}
	if set > 1 {
		r.errorf("spec", "only one of targetRefs or workloadSelector can be set")
	}
	checkWorkloadSelector(r, "spec.selector", sel)
	if ref != nil {
		checkTargetRef(r, "spec.targetRef", ref)
	}
	for i, t := range refs {
		checkTargetRef(r, path("spec.targetRefs").index(i), t)
	}
}

// targetRefKinds are the group/kinds a policy may target ("" is the core group).
var targetRefKinds = map[[2]string]bool{
	{"", "Service"}:                               true,
	{"networking.istio.io", "ServiceEntry"}:       true,
	{"gateway.networking.k8s.io", "Gateway"}:      true,
	{"gateway.networking.k8s.io", "GatewayClass"}: true,
}

func checkTargetRef(r *report, p path, t *typev1beta1.PolicyTargetReference) {
	if t == nil {
		return
	}
	if t.Name == "" {
		r.errorf(p.field("name"), "targetRef name must be set")
	}
	if t.Namespace != "" {
		r.errorf(p.field("namespace"), "targetRef namespace must not be set; cross namespace referencing is not supported")
	}
	group := t.Group
	if group == "core" {
		group = ""
	}
	if !targetRefKinds[[2]string{group, t.Kind}] {
		r.errorf(p, "targetRef must be to one of Service, ServiceEntry, Gateway (gateway.networking.k8s.io) "+
			"or GatewayClass but was %s/%s", t.Group, t.Kind)
	}
}

// checkExportTo checks the visibility list of a resource: ".", "*", or namespace names,
// without duplicates ("." and the own namespace are duplicates) and with "*" alone.
// ServiceEntries may also use "~" (visible to no one), alone. A DestinationRule with a
// workload selector may only be exported to its own namespace.
func checkExportTo(r *report, namespace string, exportTo []string, isServiceEntry, drWithSelector bool) {
	if len(exportTo) == 0 {
		return
	}
	p := path("spec.exportTo")
	seen := map[string]bool{}
	for i, e := range exportTo {
		key := e
		if e == "." {
			key = namespace
		}
		switch {
		case seen[key] && key != e:
			r.errorf(p.index(i), "duplicate entries in exportTo: . and current namespace %s", namespace)
		case seen[key]:
			r.errorf(p.index(i), "duplicate entries in exportTo for entry %s", e)
		case e == "~" && !isServiceEntry:
			r.errorf(p.index(i), "exportTo ~ (none) is not allowed for Istio configuration objects")
		case key != "*" && key != "~" && !isDNSLabel(key):
			r.errorf(p.index(i), "only .,*, or a valid DNS 1123 label is allowed as exportTo entry")
		default:
			seen[key] = true
		}
	}
	if drWithSelector && len(seen) > 0 {
		if !seen[namespace] {
			r.errorf(p, "destination rule with workload selector cannot have exportTo beyond current namespace")
		} else if len(seen) > 1 {
			r.errorf(p, "destination rule with workload selector cannot have multiple entries in exportTo")
		}
	}
	if seen["*"] && len(exportTo) > 1 {
		r.errorf(p, "cannot have both public (*) and non-public exportTo values for a resource")
	}
	if seen["~"] && len(exportTo) > 1 {
		r.errorf(p, "cannot export service entry to no one (~) and someone")
	}
}
