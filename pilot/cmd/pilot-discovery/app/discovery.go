package app

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sextant-mesh/sextant/pilot/pkg/bootstrap"
	"github.com/sextant-mesh/sextant/pilot/pkg/config/kube"
	"github.com/sextant-mesh/sextant/pilot/pkg/features"
)

func newDiscoveryCommand() *cobra.Command {
	var args bootstrap.Args
	cmd := &cobra.Command{
		Use:   "discovery",
		Short: "Start the xDS discovery service (istiod's pilot-discovery discovery)",
		// istiod has flags Sextant does not implement; they are accepted with a warning
		// so that istiod's Helm charts and manifests run unchanged.
		FParseErrWhitelist: cobra.FParseErrWhitelist{UnknownFlags: true},
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, f := range unknownFlags(cmd.Flags(), os.Args[1:]) {
				fmt.Fprintf(os.Stderr, "warning: flag %s is not supported by Sextant and is ignored\n", f)
			}
			f, errs := features.Parse(os.LookupEnv)
			for _, err := range errs {
				fmt.Fprintf(os.Stderr, "warning: %v (using the default)\n", err)
			}
			args.Features = f
			if args.ClusterID == "" {
				args.ClusterID = f.ClusterID
			}
			if args.KubeConfig == "" {
				args.KubeConfig = f.KubeConfig
			}
			kubeConfig, err := kube.RESTConfig(args.KubeConfig)
			if err != nil {
				return err
			}
			if kubeConfig != nil {
				kubeConfig.QPS, kubeConfig.Burst = args.KubernetesAPIQPS, args.KubernetesAPIBurst
			}
			args.Kube = kubeConfig
			return runDiscovery(args)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&args.GRPCAddr, "grpcAddr", ":15010", "Discovery service gRPC address (plaintext xDS)")
	fl.StringVar(&args.HTTPAddr, "httpAddr", ":8080", "Discovery service HTTP address (debug, readiness)")
	fl.StringVar(&args.MonitoringAddr, "monitoringAddr", ":15014", "HTTP address for metrics, /version and debug")
	fl.StringVar(&args.SecureGRPCAddr, "secureGRPCAddr", ":15012", "Discovery service secured gRPC address (TLS xDS; not served yet)")
	fl.StringVar(&args.HTTPSAddr, "httpsAddr", ":15017", "Injection and validation webhook address (not served yet)")
	fl.StringVar(&args.Domain, "domain", "cluster.local", "DNS domain suffix")
	fl.StringVar(&args.ClusterID, "clusterID", "", "The ID of the cluster that this instance resides in (default CLUSTER_ID or Kubernetes)")
	fl.StringVar(&args.MeshConfigFile, "meshConfig", "./etc/istio/config/mesh", "File name for Istio mesh configuration; missing means istiod's defaults")
	fl.StringVar(&args.NetworksFile, "networksConfig", "./etc/istio/config/meshNetworks", "File name for Istio mesh networks configuration")
	fl.StringVar(&args.ConfigDir, "configDir", "", "Directory to watch for Istio and Kubernetes configuration YAML")
	fl.StringVar(&args.KubeConfig, "kubeconfig", "", "Use a Kubernetes configuration file instead of in-cluster configuration (default KUBECONFIG)")
	fl.Float32Var(&args.KubernetesAPIQPS, "kubernetesApiQPS", 80.0, "Maximum QPS when communicating with the Kubernetes API")
	fl.IntVar(&args.KubernetesAPIBurst, "kubernetesApiBurst", 160, "Maximum burst for throttle when communicating with the Kubernetes API")
	fl.DurationVar(&args.KeepaliveMaxServerConnectionAge, "keepaliveMaxServerConnectionAge", 30*time.Minute,
		"Maximum age of an xDS connection before the server closes it, so proxies rebalance")
	fl.DurationVar(&args.ShutdownDuration, "shutdownDuration", 10*time.Second, "Duration the discovery server waits for streams to drain on shutdown")
	fl.StringVar(&args.Log.OutputLevel, "log_output_level", "default:info", "Comma-separated minimum per-scope logging level: scope:level,... (debug, info, warn, error, none)")
	fl.BoolVar(&args.Log.JSON, "log_as_json", false, "Whether to format output as JSON")
	return cmd
}

func runDiscovery(args bootstrap.Args) error {
	if _, err := os.Stat(args.MeshConfigFile); err != nil {
		args.MeshConfigFile = "" // istiod runs with defaults when the file is absent
	}
	s, err := bootstrap.New(args)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := s.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	s.Shutdown()
	return nil
}

// unknownFlags lists the --flags in argv that fs does not define.
func unknownFlags(fs *pflag.FlagSet, argv []string) []string {
	var out []string
	for _, a := range argv {
		if a == "--" {
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			continue
		}
		name := strings.TrimLeft(a, "-")
		name, _, _ = strings.Cut(name, "=")
		if fs.Lookup(name) == nil && (len(name) != 1 || fs.ShorthandLookup(name) == nil) && name != "help" {
			out = append(out, "--"+name)
		}
	}
	return out
}
