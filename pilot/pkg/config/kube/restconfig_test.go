package kube

import (
	"path/filepath"
	"testing"
)

func TestRESTConfig(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "") // not in a pod, whatever runs the test
	if cfg, err := RESTConfig(""); cfg != nil || err != nil {
		t.Errorf("no kubeconfig, not in a pod: %v, %v", cfg, err)
	}
	missing := filepath.Join(t.TempDir(), "missing")
	cfg, err := RESTConfig(missing + string(filepath.ListSeparator) + filepath.Join("testdata", "kubeconfig.yaml"))
	if err != nil || cfg.Host != "https://127.0.0.1:6443" || cfg.BearerToken != "abc" {
		t.Errorf("kubeconfig list: %+v, %v", cfg, err)
	}
	if _, err := RESTConfig(missing); err == nil {
		t.Error("a missing kubeconfig is not an error")
	}
}
