package listener_test

import (
	"flag"
	"path/filepath"
	"testing"

	"github.com/sextant-mesh/sextant/pilot/pkg/networking/listener"
	"github.com/sextant-mesh/sextant/tests/golden"
	"github.com/sextant-mesh/sextant/tests/xdsvalidate"
)

// corpus refreshes the golden files from a compat corpus: each testdata case's
// listeners.golden.json becomes the "listeners" of <corpus>/<case>/expected.json, which
// istiod generated. Golden files never come from Sextant's own output.
var corpus = flag.String("corpus", "", "refresh testdata/*/listeners.golden.json from this compat cases directory")

const goldenFile = "listeners.golden.json"

// TestGolden generates the listeners of each testdata case (inputs copied from the compat
// corpus) and compares them, listener by listener, with what istiod generated for it.
func TestGolden(t *testing.T) {
	proxies, err := filepath.Glob("testdata/*/proxy.yaml")
	if err != nil || len(proxies) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, pf := range proxies {
		dir := filepath.Dir(pf)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			if *corpus != "" {
				golden.Refresh(t, filepath.Join(*corpus, filepath.Base(dir), "expected.json"), "listeners", filepath.Join(dir, goldenFile))
			}
			c := golden.Case(t, dir)
			got := listener.BuildListeners(c.Push, c.Proxy)
			for _, l := range got {
				if err := xdsvalidate.Resource("listener", l.GetName(), l); err != nil {
					t.Errorf("invalid: %v", err)
				}
			}
			golden.Compare(t, "listener", golden.Read(t, filepath.Join(dir, goldenFile)), golden.JSON(t, got))
		})
	}
}
