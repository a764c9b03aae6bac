package bootstrap

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	"k8s.io/klog/v2"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/sextant-mesh/sextant/pilot/pkg/config/kube"
)

// newKubeSource builds the Kubernetes source when there is a cluster (args.Kube). With
// --configDir, the directory keeps the Istio kinds and the cluster gives the rest, as
// istiod does; without a mesh config file, the mesh ConfigMap of the revision is
// followed.
func (s *Server) newKubeSource(meshConfig *meshv1alpha1.MeshConfig) error {
	if s.args.Kube == nil {
		return nil
	}
	// controller-runtime and client-go log through globals; give them our scopes.
	ctrllog.SetLogger(s.logs.Scope("controller-runtime"))
	klog.SetLogger(s.logs.Scope("klog"))
	f := s.args.Features
	opts := kube.Options{
		SystemNamespace:         f.PodNamespace,
		WatchNamespace:          f.WatchNamespace,
		Revision:                f.Revision,
		Mesh:                    meshConfig,
		SkipIstioKinds:          s.args.ConfigDir != "",
		MaxConcurrentReconciles: f.KubeMaxConcurrentReconciles,
		OnChange:                s.configChanged,
		OnMesh:                  s.xds.SetMesh,
		OnMeshNetworks: func(n *meshv1alpha1.MeshNetworks) {
			s.log.Info("mesh networks changed; not used yet", "networks", len(n.GetNetworks()))
		},
		Log: s.logs.Scope("kube"),
	}
	if s.args.MeshConfigFile == "" {
		opts.MeshConfigMap = kube.MeshConfigMapName(f.Revision)
	}
	src, err := kube.New(s.args.Kube, s.store, opts)
	if err != nil {
		return err
	}
	s.kube = src
	return nil
}

// startKubeSource starts the Kubernetes source and waits for its first sync.
func (s *Server) startKubeSource(ctx context.Context) error {
	if s.kube == nil {
		return nil
	}
	if err := s.kube.Start(ctx); err != nil {
		return fmt.Errorf("kubernetes: %w", err)
	}
	s.wg.Add(1)
	go func() { defer s.wg.Done(); <-s.kube.Done() }()
	return nil
}

// withConfigProblems serves /debug/config_problems (the objects the config sources could
// not use or used with warnings) in front of h.
func (s *Server) withConfigProblems(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.HandleFunc("/debug/config_problems", func(w http.ResponseWriter, _ *http.Request) {
		out := map[string]any{}
		if s.source != nil {
			var file []string
			for _, p := range s.source.Problems() {
				file = append(file, p.Error())
			}
			out["configDir"] = file
		}
		if s.kube != nil {
			out["kubernetes"] = s.kube.Problems()
		}
		w.Header().Set("Content-Type", "application/json")
		b, _ := json.MarshalIndent(out, "", "  ")
		_, _ = w.Write(b)
	})
	return mux
}
