package features

import (
	"testing"
	"time"
)

func envOf(m map[string]string) Env {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestDefaultsAreIstiods(t *testing.T) {
	f, errs := Parse(envOf(nil))
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	if f.DebounceAfter != 100*time.Millisecond || f.DebounceMax != 10*time.Second || !f.EnableEDSDebounce ||
		f.PushThrottle != 0 || f.PodNamespace != "istio-system" || f.ClusterID != "Kubernetes" {
		t.Errorf("defaults = %+v", f)
	}
}

func TestOverridesAndBadValues(t *testing.T) {
	f, errs := Parse(envOf(map[string]string{
		"PILOT_DEBOUNCE_AFTER":          "250ms",
		"PILOT_DEBOUNCE_MAX":            "forever",
		"PILOT_ENABLE_EDS_DEBOUNCE":     "false",
		"PILOT_PUSH_THROTTLE":           "7",
		"PILOT_MAX_REQUESTS_PER_SECOND": "12.5",
	}))
	if f.DebounceAfter != 250*time.Millisecond || f.EnableEDSDebounce || f.PushThrottle != 7 || f.MaxRequestsPerSecond != 12.5 {
		t.Errorf("overrides not applied: %+v", f)
	}
	if f.DebounceMax != 10*time.Second {
		t.Errorf("bad value replaced the default: %v", f.DebounceMax)
	}
	if len(errs) != 1 {
		t.Errorf("errors = %v, want one for PILOT_DEBOUNCE_MAX", errs)
	}
}

func TestKubernetesSourceSettings(t *testing.T) {
	f, errs := Parse(envOf(map[string]string{
		"KUBECONFIG":                           "/a:/b",
		"ISTIO_WATCH_NAMESPACE":                "shop",
		"PILOT_KUBE_MAX_CONCURRENT_RECONCILES": "3",
	}))
	if len(errs) != 0 || f.KubeConfig != "/a:/b" || f.WatchNamespace != "shop" || f.KubeMaxConcurrentReconciles != 3 {
		t.Errorf("got %+v, %v", f, errs)
	}
	if f, _ := Parse(envOf(nil)); f.KubeMaxConcurrentReconciles != 0 || f.WatchNamespace != "" {
		t.Errorf("defaults: %+v", f)
	}
}

func TestIdleGCAfter(t *testing.T) {
	if f, _ := Parse(envOf(nil)); f.IdleGCAfter != 250*time.Millisecond {
		t.Errorf("default PILOT_IDLE_GC_AFTER = %v, want 250ms", f.IdleGCAfter)
	}
	if f, errs := Parse(envOf(map[string]string{"PILOT_IDLE_GC_AFTER": "0"})); len(errs) != 0 || f.IdleGCAfter != 0 {
		t.Errorf("PILOT_IDLE_GC_AFTER=0: %v, %v", f.IdleGCAfter, errs)
	}
}
