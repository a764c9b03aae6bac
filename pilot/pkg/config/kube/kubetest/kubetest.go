// Package kubetest starts the real kube-apiserver and etcd that tests of the Kubernetes
// source run against (controller-runtime's envtest), with Istio's CRDs installed. The
// binaries come from tools/envtest/build.sh, found through KUBEBUILDER_ASSETS; without
// them, tests skip with a message saying so. It is for tests only.
package kubetest

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// APIServer is a running kube-apiserver, or the reason there is none.
type APIServer struct {
	// Config reaches the API server; nil when Skip says why there is none.
	Config *rest.Config
	Skip   string
	env    *envtest.Environment
}

// Start starts an API server with Istio's CRDs (manifests/crds/istio.yaml). When
// KUBEBUILDER_ASSETS is unset or lacks the binaries, or the server does not start, the
// returned APIServer has no Config and says why in Skip.
func Start() *APIServer {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		return &APIServer{Skip: "KUBEBUILDER_ASSETS is not set (build the binaries with tools/envtest/build.sh)"}
	}
	for _, b := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, b)); err != nil {
			return &APIServer{Skip: fmt.Sprintf("KUBEBUILDER_ASSETS=%s lacks %s (build it with tools/envtest/build.sh)", assets, b)}
		}
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory:    assets,
		CRDInstallOptions:        envtest.CRDInstallOptions{Paths: []string{crds()}, ErrorIfPathMissing: true},
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	// The ClusterIPs of the samples and fixtures are in kubeadm's default range.
	env.ControlPlane.GetAPIServer().Configure().Set("service-cluster-ip-range", "10.96.0.0/12")
	cfg, err := env.Start()
	if err != nil {
		return &APIServer{Skip: fmt.Sprintf("starting envtest: %v", err)}
	}
	return &APIServer{Config: cfg, env: env}
}

// Stop stops the API server, if one runs.
func (a *APIServer) Stop() error {
	if a.env == nil {
		return nil
	}
	return a.env.Stop()
}

// crds is the path of Istio's CRDs, found from this file's place in the repository.
func crds() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "..", "manifests", "crds", "istio.yaml")
}

var shared struct {
	once sync.Once
	api  *APIServer
}

// Shared returns the package's API server, starting it on first use, so that test
// binaries that do not need one never start it. TestMain stops it with StopShared.
func Shared() *APIServer {
	shared.once.Do(func() { shared.api = Start() })
	return shared.api
}

// StopShared stops the shared API server if it was started.
func StopShared() error {
	if shared.api == nil {
		return nil
	}
	return shared.api.Stop()
}

// SkipUnlessRunning skips t when there is no API server, or fails it when
// SEXTANT_REQUIRE_ENVTEST=1 (CI builds the binaries, so a missing server there is a bug,
// not a reason to skip).
func (a *APIServer) SkipUnlessRunning(t testing.TB) {
	t.Helper()
	if a.Config != nil {
		return
	}
	if os.Getenv("SEXTANT_REQUIRE_ENVTEST") == "1" {
		t.Fatal("envtest required but unavailable: " + a.Skip)
	}
	t.Skip("envtest: " + a.Skip)
}

// Main runs a package's tests and stops the shared API server afterwards; call it from
// TestMain in packages that use Shared.
func Main(m *testing.M) {
	code := m.Run()
	if err := StopShared(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping envtest:", err)
	}
	os.Exit(code)
}
