// Command pilot-discovery is Sextant's drop-in for istiod's discovery binary.
package main

import (
	"os"

	"github.com/sextant-mesh/sextant/pilot/cmd/pilot-discovery/app"
)

func main() {
	if err := app.NewRootCommand().Execute(); err != nil {
		os.Exit(1)
	}
}
