// Command pilot-discovery is Sextant's drop-in for istiod's discovery binary.
package main

import (
	"os"
	"runtime/debug"

	"github.com/sextant-mesh/sextant/pilot/cmd/pilot-discovery/app"
)

// defaultGCPercent is the collector's heap growth target unless GOGC says otherwise:
// memory per connected proxy is what large meshes run out of, and Sextant spends a
// fraction of istiod's CPU, so it trades some of that CPU for a heap that grows half as
// far past the live data between collections (Go's default is 100).
const defaultGCPercent = 50

func main() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(defaultGCPercent)
	}
	if err := app.NewRootCommand().Execute(); err != nil {
		os.Exit(1)
	}
}
