package validation

import (
	"fmt"
	"regexp"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
)

// maxRegexLength bounds regexes handed to Envoy. Envoy limits the RE2 program size, which
// Go cannot compute; the program is always larger than the pattern, so istiod bounds the
// length instead (and raises Envoy's program size limit to match).
const maxRegexLength = 1024

// checkRegex checks re compiles as RE2 (Go's regexp implements RE2's syntax, which is what
// Envoy's safe_regex uses) and is not too long.
func checkRegex(re string) error {
	if len(re) > maxRegexLength {
		return fmt.Errorf("regex is too large, max length allowed is %d", maxRegexLength)
	}
	if _, err := regexp.Compile(re); err != nil {
		return fmt.Errorf("%w; Istio uses RE2 style regex-based match (https://github.com/google/re2/wiki/Syntax)", err)
	}
	return nil
}

// checkStringMatch checks a StringMatch whose prefix may not be empty: a prefix must be
// non-empty and a regex must be a valid non-empty RE2 regex.
func checkStringMatch(r *report, p path, m *networkingv1alpha3.StringMatch) {
	if _, ok := m.GetMatchType().(*networkingv1alpha3.StringMatch_Prefix); ok && m.GetPrefix() == "" {
		r.errorf(p.field("prefix"), "prefix string match should not be empty")
	}
	checkStringMatchRegex(r, p, m)
}

// checkStringMatchRegex checks the regex of a StringMatch, if it is a regex match.
func checkStringMatchRegex(r *report, p path, m *networkingv1alpha3.StringMatch) {
	if _, ok := m.GetMatchType().(*networkingv1alpha3.StringMatch_Regex); !ok {
		return
	}
	if m.GetRegex() == "" {
		r.errorf(p.field("regex"), "regex string match should not be empty")
		return
	}
	r.add(p.field("regex"), checkRegex(m.GetRegex()))
}
