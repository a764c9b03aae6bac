// Package compare diffs generated xDS against an oracle's expected.json resource by
// resource: clusters, listeners and routes by name, endpoints by cluster_name. Fields
// listed in tests/compat/IGNORED.md are removed from both sides before comparing.
package compare

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/google/go-cmp/cmp"
)

// Types are the resource types compared, in report order.
var Types = []string{"clusters", "listeners", "routes", "endpoints"}

// Doc is an oracle-format output document.
type Doc map[string][]map[string]any

// ParseDoc reads the resource arrays of an oracle-format document.
func ParseDoc(b []byte) (Doc, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, err
	}
	d := Doc{}
	for _, t := range Types {
		var rs []map[string]any
		if len(raw[t]) > 0 {
			if err := json.Unmarshal(raw[t], &rs); err != nil {
				return nil, fmt.Errorf("%s: %w", t, err)
			}
		}
		d[t] = rs
	}
	return d, nil
}

// LoadDoc reads a document from a file.
func LoadDoc(path string) (Doc, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseDoc(b)
}

// Key returns the name a resource is compared by.
func Key(kind string, r map[string]any) string {
	if kind == "endpoints" {
		s, _ := r["cluster_name"].(string)
		return s
	}
	s, _ := r["name"].(string)
	return s
}

// Result of comparing one resource.
type Result struct {
	Type, Name string
	// Status is "equal", "different", "missing" (expected, not generated) or "extra".
	Status string
	Diff   string
}

// Ignore is a field path to drop before comparing, as listed in IGNORED.md: a resource
// type and a dotted path where "*" matches any key or array index.
type Ignore struct {
	Type string
	Path []string
}

// Compare diffs got against want.
func Compare(want, got Doc, ignores []Ignore) []Result {
	var out []Result
	for _, t := range Types {
		w, g := index(t, want[t]), index(t, got[t])
		names := map[string]bool{}
		for n := range w {
			names[n] = true
		}
		for n := range g {
			names[n] = true
		}
		sorted := make([]string, 0, len(names))
		for n := range names {
			sorted = append(sorted, n)
		}
		sort.Strings(sorted)
		for _, n := range sorted {
			wr, inW := w[n]
			gr, inG := g[n]
			switch {
			case !inG:
				out = append(out, Result{Type: t, Name: n, Status: "missing"})
			case !inW:
				out = append(out, Result{Type: t, Name: n, Status: "extra"})
			default:
				wr, gr = strip(t, wr, ignores), strip(t, gr, ignores)
				if d := cmp.Diff(wr, gr); d != "" {
					out = append(out, Result{Type: t, Name: n, Status: "different", Diff: d})
				} else {
					out = append(out, Result{Type: t, Name: n, Status: "equal"})
				}
			}
		}
	}
	return out
}

func index(t string, rs []map[string]any) map[string]any {
	m := map[string]any{}
	for _, r := range rs {
		m[Key(t, r)] = r
	}
	return m
}

func strip(t string, r any, ignores []Ignore) any {
	for _, ig := range ignores {
		if ig.Type == t || ig.Type == "*" {
			r = drop(r, ig.Path)
		}
	}
	return r
}

// drop returns a copy of v without the values at path.
func drop(v any, path []string) any {
	if len(path) == 0 {
		return nil
	}
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if path[0] == "*" || path[0] == k {
				if len(path) == 1 {
					continue
				}
				out[k] = drop(e, path[1:])
			} else {
				out[k] = e
			}
		}
		return out
	case []any:
		out := make([]any, 0, len(x))
		for _, e := range x {
			if path[0] == "*" {
				if len(path) == 1 {
					continue
				}
				out = append(out, drop(e, path[1:]))
			} else {
				out = append(out, e)
			}
		}
		return out
	}
	return v
}

// ParseIgnored reads IGNORED.md: every line of the form
// "- `type`: `dotted.path` - reason" is an ignore.
func ParseIgnored(path string) ([]Ignore, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []Ignore
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if !strings.HasPrefix(l, "- `") {
			continue
		}
		parts := strings.Split(l, "`")
		if len(parts) < 5 {
			continue
		}
		out = append(out, Ignore{Type: parts[1], Path: strings.Split(parts[3], ".")})
	}
	return out, nil
}

// Summary counts results by status.
func Summary(rs []Result) (equal, total int) {
	for _, r := range rs {
		total++
		if r.Status == "equal" {
			equal++
		}
	}
	return equal, total
}
