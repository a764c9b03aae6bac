package xds

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the server's Prometheus metrics, with istiod's names so dashboards and
// alerts keep working.
type Metrics struct {
	Registry        *prometheus.Registry
	connections     prometheus.Gauge
	pushes          *prometheus.CounterVec
	rejects         *prometheus.CounterVec
	pushTriggers    *prometheus.CounterVec
	convergence     prometheus.Histogram
	debounceTime    prometheus.Histogram
	pushContextInit prometheus.Histogram
	services        prometheus.Gauge
	configSize      *prometheus.HistogramVec
	generateTime    *prometheus.HistogramVec
	sendTimeouts    prometheus.Counter
}

// NewMetrics registers the metrics in a new registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pilot_xds", Help: "Number of endpoints connected to this pilot using XDS.",
		}),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pilot_xds_pushes", Help: "Pilot build and send errors for lds, rds, cds and eds.",
		}, []string{"type"}),
		rejects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pilot_total_xds_rejects", Help: "Total number of XDS responses from pilot rejected by proxy.",
		}, []string{"type"}),
		pushTriggers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pilot_push_triggers", Help: "Total number of times a push was triggered, labeled by reason for the push.",
		}, []string{"type"}),
		convergence: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "pilot_proxy_convergence_time", Help: "Delay in seconds between config change and a proxy receiving all required configuration.",
			Buckets: []float64{.1, .5, 1, 3, 5, 10, 20, 30},
		}),
		debounceTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "pilot_debounce_time", Help: "Delay in seconds between the first config enters debouncing and the merged push request is pushed into the push queue.",
			Buckets: []float64{.01, .1, 1, 3, 5, 10, 20, 30},
		}),
		pushContextInit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "pilot_pushcontext_init_seconds", Help: "Total time in seconds Pilot takes to init pushContext.",
			Buckets: []float64{.01, .1, .5, 1, 3, 5},
		}),
		services: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pilot_services", Help: "Total services known to pilot.",
		}),
		configSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "pilot_xds_config_size_bytes", Help: "Distribution of configuration sizes pushed to clients",
			Buckets: []float64{1, 10000, 1000000, 4000000, 10000000, 40000000},
		}, []string{"type"}),
		generateTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "pilot_xds_push_time", Help: "Total time in seconds Pilot takes to push lds, rds, cds and eds.",
			Buckets: []float64{.01, .1, 1, 3, 5, 10, 20, 30},
		}, []string{"type"}),
		sendTimeouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pilot_xds_write_timeout", Help: "Pilot XDS response write timeouts.",
		}),
	}
	m.Registry.MustRegister(m.connections, m.pushes, m.rejects, m.pushTriggers, m.convergence, m.debounceTime,
		m.pushContextInit, m.services, m.configSize, m.generateTime, m.sendTimeouts)
	return m
}
