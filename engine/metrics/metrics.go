// Package metrics holds the PBX's Prometheus metrics on a registry of its
// own, so tests and several servers in one process do not share counters.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the PBX's counters, gauges and histograms.
type Metrics struct {
	reg *prometheus.Registry

	Calls         *prometheus.CounterVec // by disposition
	Registrations prometheus.Gauge
	AuthFailures  prometheus.Counter
	Bans          prometheus.Counter
	HookLatency   *prometheus.HistogramVec // by hook
	HookErrors    *prometheus.CounterVec   // by hook and kind (error, timeout)
	Reloads       *prometheus.CounterVec   // by result (ok, error)
	Generation    prometheus.Gauge
	EventsDropped prometheus.Counter
}

// New registers every metric, plus the Go runtime and process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg:           reg,
		Calls:         prometheus.NewCounterVec(prometheus.CounterOpts{Name: "luapbx_calls_total", Help: "Ended calls by disposition; rate() gives the call rate."}, []string{"disposition"}),
		Registrations: prometheus.NewGauge(prometheus.GaugeOpts{Name: "luapbx_registrations", Help: "Live registered contacts."}),
		AuthFailures:  prometheus.NewCounter(prometheus.CounterOpts{Name: "luapbx_auth_failures_total", Help: "Requests with wrong credentials."}),
		Bans:          prometheus.NewCounter(prometheus.CounterOpts{Name: "luapbx_bans_total", Help: "Source addresses banned after repeated authentication failures."}),
		HookLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "luapbx_lua_hook_seconds", Help: "Lua hook run time.",
			Buckets: []float64{5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 1e-3, 5e-3, 0.01, 0.025, 0.05, 0.1},
		}, []string{"hook"}),
		HookErrors:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "luapbx_lua_hook_errors_total", Help: "Lua hook errors and timeouts."}, []string{"hook", "kind"}),
		Reloads:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: "luapbx_reloads_total", Help: "Reload attempts by result."}, []string{"result"}),
		Generation:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "luapbx_config_generation", Help: "The live config generation."}),
		EventsDropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "luapbx_events_dropped_total", Help: "on_event events dropped because the queue was full."}),
	}
	reg.MustRegister(m.Calls, m.Registrations, m.AuthFailures, m.Bans, m.HookLatency,
		m.HookErrors, m.Reloads, m.Generation, m.EventsDropped,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, d := range []string{"answered", "no_answer", "busy", "failed", "rejected"} {
		m.Calls.WithLabelValues(d)
	}
	m.Reloads.WithLabelValues("ok")
	m.Reloads.WithLabelValues("error")
	return m
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Register adds a collector of another part of the PBX.
func (m *Metrics) Register(c prometheus.Collector) error { return m.reg.Register(c) }
