package main

import (
	"errors"
	"log/slog"
	"time"

	"luapbx/engine"
	"luapbx/engine/config"
	"luapbx/engine/metrics"
	"luapbx/engine/reload"
	"luapbx/engine/routing"
	"luapbx/luaapi"
)

// loaderFor compiles a config's scripts into its snapshot's policy, keeping
// the key-value store of the previous snapshot across reloads. With noLua it
// loads nothing.
func loaderFor(noLua bool, log *slog.Logger, m *metrics.Metrics) reload.PolicyLoader {
	if noLua {
		return nil
	}
	return func(cfg *config.Config, r *routing.Router, prev engine.Policy) (engine.Policy, error) {
		p, err := luaapi.Load(cfg.Scripts.DirPath, luaapi.Options{
			Timeout:      cfg.Scripts.Timeout(),
			EventTimeout: cfg.Scripts.EventTimeout(),
			HTTPAllow:    cfg.Scripts.HTTPAllow,
			Events:       cfg.Scripts.Events,
			Logger:       log,
			KV:           luaapi.KVOf(prev),
			CheckTarget: func(company, target string) error {
				_, err := r.CheckTarget(company, target)
				return err
			},
			Location: r.Location,
			Observe:  observeHooks(m),
			OnDrop:   countDrops(m),
		})
		if err != nil {
			return nil, err
		}
		if p.Empty() {
			p.Close()
			return nil, nil
		}
		return p, nil
	}
}

// observeHooks feeds hook latency and errors to the metrics.
func observeHooks(m *metrics.Metrics) func(string, time.Duration, error) {
	if m == nil {
		return nil
	}
	return func(hook string, took time.Duration, err error) {
		m.HookLatency.WithLabelValues(hook).Observe(took.Seconds())
		switch {
		case err == nil:
		case errors.Is(err, luaapi.ErrTimeout):
			m.HookErrors.WithLabelValues(hook, "timeout").Inc()
		case errors.Is(err, luaapi.ErrBusy):
			m.HookErrors.WithLabelValues(hook, "busy").Inc()
		default:
			m.HookErrors.WithLabelValues(hook, "error").Inc()
		}
	}
}

func countDrops(m *metrics.Metrics) func() {
	if m == nil {
		return nil
	}
	return m.EventsDropped.Inc
}
