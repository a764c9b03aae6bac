package kube

import (
	"runtime"

	"github.com/go-logr/logr"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/mesh"
)

// Options configure a Source.
type Options struct {
	// SystemNamespace is the istiod namespace (POD_NAMESPACE, istio-system). It is always
	// watched, and holds the mesh ConfigMap.
	SystemNamespace string
	// WatchNamespace (ISTIO_WATCH_NAMESPACE) restricts the namespaced kinds to one
	// namespace, besides SystemNamespace. Empty means every selected namespace.
	WatchNamespace string
	// Revision (REVISION) is the control plane's revision: Istio objects labelled
	// istio.io/rev with another value are ignored. Empty accepts every revision.
	Revision string
	// Mesh is the mesh config to start from: its discoverySelectors select the namespaces
	// until the mesh ConfigMap says otherwise. Nil means istiod's defaults.
	Mesh *meshv1alpha1.MeshConfig
	// MeshConfigMap names the ConfigMap in SystemNamespace holding the mesh config (keys
	// "mesh" and "meshNetworks"; see MeshConfigMapName). Empty means it is not watched
	// (istiod reads a mounted mesh file instead when there is one).
	MeshConfigMap string
	// SkipIstioKinds leaves the Istio kinds to another source (istiod does so when
	// --configDir is set); Kubernetes kinds are still watched.
	SkipIstioKinds bool
	// MaxConcurrentReconciles is the number of workers per kind
	// (PILOT_KUBE_MAX_CONCURRENT_RECONCILES); 0 means GOMAXPROCS.
	MaxConcurrentReconciles int

	// OnChange receives the keys of the objects each reconcile added, changed or
	// removed in the Store. It must not block for long: reconcilers wait for it.
	OnChange func(changed map[config.Key]struct{})
	// OnMesh receives the mesh config each time the mesh ConfigMap changes it (a missing
	// ConfigMap or key means istiod's defaults). It is not called for the initial value
	// when that equals Mesh.
	OnMesh func(*meshv1alpha1.MeshConfig)
	// OnMeshNetworks receives the ConfigMap's meshNetworks each time it changes.
	OnMeshNetworks func(*meshv1alpha1.MeshNetworks)

	Log logr.Logger
}

func (o *Options) defaults() {
	if o.SystemNamespace == "" {
		o.SystemNamespace = mesh.DefaultRootNamespace
	}
	if o.MaxConcurrentReconciles <= 0 {
		// Reconciles are CPU-bound (cache read, decode, validate); more workers than
		// cores only add contention on the Store.
		o.MaxConcurrentReconciles = runtime.GOMAXPROCS(0)
	}
	if o.Mesh == nil {
		o.Mesh = mesh.Default()
	}
	if o.OnChange == nil {
		o.OnChange = func(map[config.Key]struct{}) {}
	}
	if o.OnMesh == nil {
		o.OnMesh = func(*meshv1alpha1.MeshConfig) {}
	}
	if o.OnMeshNetworks == nil {
		o.OnMeshNetworks = func(*meshv1alpha1.MeshNetworks) {}
	}
}

// MeshConfigMapName is the name of the mesh ConfigMap of a revision, as istiod names it:
// "istio" for the default revision, "istio-<rev>" otherwise.
func MeshConfigMapName(revision string) string {
	if revision == "" || revision == "default" {
		return "istio"
	}
	return "istio-" + revision
}
