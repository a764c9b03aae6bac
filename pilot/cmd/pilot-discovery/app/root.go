// Package app holds pilot-discovery's cobra commands: flags in, options out, no logic.
package app

import (
	"github.com/spf13/cobra"
)

// NewRootCommand returns the pilot-discovery command tree.
func NewRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:          "pilot-discovery",
		Short:        "Sextant: an Istio-compatible control plane (istiod's discovery service).",
		SilenceUsage: true,
	}
	root.AddCommand(newGenerateCommand(), newDiscoveryCommand())
	return root
}
