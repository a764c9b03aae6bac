// Package labels matches Istio workload selectors (plain matchLabels maps) against
// workload labels.
package labels

// Instance is a set of labels.
type Instance map[string]string

// SubsetOf reports whether every label in i is present in that with the same value. An
// empty selector selects everything.
func (i Instance) SubsetOf(that map[string]string) bool {
	for k, v := range i {
		if w, ok := that[k]; !ok || w != v {
			return false
		}
	}
	return true
}
