package app

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/sextant-mesh/sextant/pilot/pkg/networking/generate"
)

func newGenerateCommand() *cobra.Command {
	var req generate.Request
	var strict bool
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Print the xDS istiod would send one proxy, from a directory of YAML",
		Long: `generate reads Istio and Kubernetes objects from --configDir, the proxy from --proxy
(proxy.yaml: type, ip, namespace, pod, labels, generator, listeners) and mesh config from
--meshConfig, and prints {clusters, listeners, routes, endpoints, names} as protojson with
proto field names. Documents that cannot be used are reported on stderr and skipped.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if req.ProxyFile == "" {
				req.ProxyFile = filepath.Join(req.ConfigDir, "proxy.yaml")
			}
			if req.MeshFile == "" {
				if m := filepath.Join(req.ConfigDir, "mesh.yaml"); fileExists(m) {
					req.MeshFile = m
				}
			}
			res, err := generate.Run(req)
			if err != nil {
				return err
			}
			for _, p := range res.Problems {
				fmt.Fprintln(os.Stderr, p.Error())
			}
			out, err := res.Output.JSON()
			if err != nil {
				return err
			}
			if _, err := os.Stdout.Write(out); err != nil {
				return err
			}
			if strict && len(res.Problems) > 0 {
				return fmt.Errorf("%d input problems", len(res.Problems))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&req.ConfigDir, "configDir", "", "directory of YAML manifests (Istio CRs and Kubernetes objects)")
	cmd.Flags().StringVar(&req.ProxyFile, "proxy", "", "proxy.yaml describing the proxy (default: configDir/proxy.yaml)")
	cmd.Flags().StringVar(&req.MeshFile, "meshConfig", "", "MeshConfig YAML (default: configDir/mesh.yaml if present, else istiod's defaults)")
	cmd.Flags().BoolVar(&strict, "strict", false, "exit non-zero when any input document was rejected")
	_ = cmd.MarkFlagRequired("configDir")
	return cmd
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
