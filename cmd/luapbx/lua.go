package main

import (
	"log/slog"

	"luapbx/engine"
	"luapbx/engine/config"
	"luapbx/engine/reload"
	"luapbx/luaapi"
)

// loaderFor compiles a config's scripts into its snapshot's policy, keeping
// the key-value store of the previous snapshot across reloads. With noLua it
// loads nothing.
func loaderFor(noLua bool, log *slog.Logger) reload.PolicyLoader {
	if noLua {
		return nil
	}
	return func(cfg *config.Config, prev engine.Policy) (engine.Policy, error) {
		p, err := luaapi.Load(cfg.Scripts.DirPath, luaapi.Options{
			Timeout:      cfg.Scripts.Timeout(),
			EventTimeout: cfg.Scripts.EventTimeout(),
			HTTPAllow:    cfg.Scripts.HTTPAllow,
			Events:       cfg.Scripts.Events,
			Logger:       log,
			KV:           luaapi.KVOf(prev),
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
