package cluster

import (
	"fmt"
	"slices"
	"testing"
)

// dedupe keeps the first resource of each name, telling names apart by hash and
// comparing the names whose hashes collide (made to, here: b, c and e share one).
func TestDedupe(t *testing.T) {
	r := func(name string, hash uint64, tag int) Resource {
		return Resource{Name: name, NameHash: hash, Hash: uint64(tag)}
	}
	in := []Resource{
		r("a", 0, 1), r("b", 7, 2), r("c", 7, 3),
		r("a", 0, 4), r("c", 7, 5), r("b", 7, 6), r("d", 0, 7),
		r("e", 7, 9), r("d", 0, 10), r("e", 7, 11),
	}
	var got []string
	out, dropped := dedupe(in)
	if !dropped {
		t.Error("dedupe did not report the dropped resources")
	}
	for _, x := range out {
		got = append(got, fmt.Sprintf("%s%d", x.Name, x.Hash))
	}
	if want := []string{"a1", "b2", "c3", "d7", "e9"}; !slices.Equal(got, want) {
		t.Errorf("dedupe = %v, want %v", got, want)
	}
	if _, dropped := dedupe([]Resource{r("a", 0, 1), r("b", 7, 2), r("c", 7, 3)}); dropped {
		t.Error("dedupe reported dropping from distinct names")
	}
}
