// Package features reads istiod's environment variables (PILOT_*, ISTIO_*, POD_*) once, at
// startup, into typed options with istiod's names and defaults. Nothing else in Sextant
// reads the environment: options are passed down from bootstrap.
package features

import (
	"fmt"
	"strconv"
	"time"
)

// Env is what features reads: os.LookupEnv in production, a map in tests.
type Env func(key string) (string, bool)

// Features are the parsed settings.
type Features struct {
	// DebounceAfter is PILOT_DEBOUNCE_AFTER (100ms): the quiet period before a push.
	DebounceAfter time.Duration
	// DebounceMax is PILOT_DEBOUNCE_MAX (10s): the longest a burst is held.
	DebounceMax time.Duration
	// EnableEDSDebounce is PILOT_ENABLE_EDS_DEBOUNCE (true): debounce endpoint-only
	// pushes too.
	EnableEDSDebounce bool
	// PushThrottle is PILOT_PUSH_THROTTLE (0 = min(15+5*GOMAXPROCS, 100)): concurrent
	// pushes.
	PushThrottle int
	// MaxRequestsPerSecond is PILOT_MAX_REQUESTS_PER_SECOND (0 = min(15+5*GOMAXPROCS,
	// 100)): new xDS streams accepted per second.
	MaxRequestsPerSecond float64
	// XDSSendTimeout is PILOT_XDS_SEND_TIMEOUT (0 = none): a stream that does not take a
	// response within it is closed. Sextant's default is 30s.
	XDSSendTimeout time.Duration
	// PodName and PodNamespace are POD_NAME and POD_NAMESPACE (istio-system).
	PodName, PodNamespace string
	// Revision is REVISION ("default").
	Revision string
	// ClusterID is CLUSTER_ID ("Kubernetes").
	ClusterID string

	// Kubernetes source (pilot/pkg/config/kube).

	// KubeConfig is KUBECONFIG: the kubeconfig file(s) to read when --kubeconfig is not
	// given. Without either, the in-cluster config is used when running in a pod.
	KubeConfig string
	// WatchNamespace is ISTIO_WATCH_NAMESPACE (""): when set, only that namespace (and
	// POD_NAMESPACE) is watched.
	WatchNamespace string
	// KubeMaxConcurrentReconciles is PILOT_KUBE_MAX_CONCURRENT_RECONCILES (0 =
	// GOMAXPROCS): how many objects of one kind are reconciled at once. Sextant-specific.
	KubeMaxConcurrentReconciles int

	// IdleGCAfter is PILOT_IDLE_GC_AFTER (250ms; 0 disables): once no push or request has
	// run for this long and half the heap's headroom is spent, Sextant collects garbage
	// then, so that the collection does not land in the next push (pkg/idlegc).
	// Sextant-specific.
	IdleGCAfter time.Duration
}

type parser struct {
	env  Env
	errs []error
}

func (p *parser) duration(key string, def time.Duration) time.Duration {
	v, ok := p.env(key)
	if !ok || v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s=%q: %w", key, v, err))
		return def
	}
	return d
}

func (p *parser) boolean(key string, def bool) bool {
	v, ok := p.env(key)
	if !ok || v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s=%q: %w", key, v, err))
		return def
	}
	return b
}

func (p *parser) integer(key string, def int) int {
	v, ok := p.env(key)
	if !ok || v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s=%q: %w", key, v, err))
		return def
	}
	return n
}

func (p *parser) float(key string, def float64) float64 {
	v, ok := p.env(key)
	if !ok || v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s=%q: %w", key, v, err))
		return def
	}
	return f
}

func (p *parser) str(key, def string) string {
	if v, ok := p.env(key); ok && v != "" {
		return v
	}
	return def
}

// Parse reads the features from env. Malformed values keep their defaults and are
// returned as errors (istiod logs and carries on the same way).
func Parse(env Env) (Features, []error) {
	p := &parser{env: env}
	f := Features{
		DebounceAfter:        p.duration("PILOT_DEBOUNCE_AFTER", 100*time.Millisecond),
		DebounceMax:          p.duration("PILOT_DEBOUNCE_MAX", 10*time.Second),
		EnableEDSDebounce:    p.boolean("PILOT_ENABLE_EDS_DEBOUNCE", true),
		PushThrottle:         p.integer("PILOT_PUSH_THROTTLE", 0),
		MaxRequestsPerSecond: p.float("PILOT_MAX_REQUESTS_PER_SECOND", 0),
		XDSSendTimeout:       p.duration("PILOT_XDS_SEND_TIMEOUT", 30*time.Second),
		PodName:              p.str("POD_NAME", "istiod"),
		PodNamespace:         p.str("POD_NAMESPACE", "istio-system"),
		Revision:             p.str("REVISION", "default"),
		ClusterID:            p.str("CLUSTER_ID", "Kubernetes"),

		KubeConfig:                  p.str("KUBECONFIG", ""),
		WatchNamespace:              p.str("ISTIO_WATCH_NAMESPACE", ""),
		KubeMaxConcurrentReconciles: p.integer("PILOT_KUBE_MAX_CONCURRENT_RECONCILES", 0),
		IdleGCAfter:                 p.duration("PILOT_IDLE_GC_AFTER", 250*time.Millisecond),
	}
	return f, p.errs
}
