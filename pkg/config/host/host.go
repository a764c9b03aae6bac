// Package host implements Istio's hostname matching: exact names, and wildcard names of the
// form "*.example.com" or "*" that match any name with that suffix.
package host

import "strings"

// Name is a hostname, possibly a wildcard ("*.example.com", "*").
type Name string

// IsWildcard reports whether n starts with "*".
func (n Name) IsWildcard() bool { return len(n) > 0 && n[0] == '*' }

// Matches reports whether n covers o: equal names, or n a wildcard whose suffix o carries.
// A wildcard o is covered only by a wildcard n at least as broad.
func (n Name) Matches(o Name) bool {
	if n == o || n == "*" {
		return true
	}
	if !n.IsWildcard() {
		return false
	}
	suffix := string(n[1:]) // ".example.com"
	if o.IsWildcard() {
		return len(o) > len(n) && strings.HasSuffix(string(o[1:]), suffix)
	}
	return strings.HasSuffix(string(o), suffix)
}

// SubsetOf reports whether every name matched by n is matched by o.
func (n Name) SubsetOf(o Name) bool { return o.Matches(n) }

// Intersects reports whether n and o match at least one common name.
func (n Name) Intersects(o Name) bool { return n.Matches(o) || o.Matches(n) }

// MoreSpecific orders names as Istio does when several match: exact before wildcard,
// longer wildcard before shorter, then lexically.
func MoreSpecific(a, b Name) bool {
	if a.IsWildcard() != b.IsWildcard() {
		return !a.IsWildcard()
	}
	if a.IsWildcard() && len(a) != len(b) {
		return len(a) > len(b)
	}
	return a < b
}
