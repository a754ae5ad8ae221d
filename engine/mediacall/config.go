package mediacall

import (
	"time"

	"luapbx/engine/apps"
	"luapbx/engine/config"
	"luapbx/media/player"
)

// DefaultRTPTimeout is the rtp_timeout used when the config has none.
const DefaultRTPTimeout = 60 * time.Second

// ConfigPrompt loads prompts named as in the config (relative to the
// config file's folder) from the live config. Loaded prompts are cached
// while their file does not change (modification time and size).
func ConfigPrompt(cur func() *config.Config) func(name string) (*player.Prompt, error) {
	cache := newPromptCache()
	return func(name string) (*player.Prompt, error) {
		return cache.load(cur().PromptPath(name))
	}
}

// ConfigGreeting returns the extensions' voicemail greetings from the live
// config (cached as ConfigPrompt's). A greeting that no longer loads (the
// file went away after the check) leaves the beep alone.
func ConfigGreeting(cur func() *config.Config) func(company, ext string) (*player.Prompt, bool) {
	cache := newPromptCache()
	return func(company, ext string) (*player.Prompt, bool) {
		for _, co := range cur().Companies {
			if co.ID != company {
				continue
			}
			for _, e := range co.Extensions {
				if e.Number == ext && e.GreetingPath != "" {
					p, err := cache.load(e.GreetingPath)
					return p, err == nil
				}
			}
		}
		return nil, false
	}
}

// ConfigIVR returns the menus of the live config, prompts loaded (and
// cached as ConfigPrompt's).
func ConfigIVR(cur func() *config.Config) func(company, id string) (apps.IVRConfig, bool) {
	cache := newPromptCache()
	return func(company, id string) (apps.IVRConfig, bool) {
		for _, co := range cur().Companies {
			if co.ID != company {
				continue
			}
			for _, v := range co.IVRs {
				if v.ID != id {
					continue
				}
				p, err := cache.load(v.PromptPath)
				if err != nil {
					return apps.IVRConfig{}, false
				}
				cfg := apps.IVRConfig{ID: v.ID, Prompt: p, Default: v.Default,
					Timeout: time.Duration(v.TimeoutSeconds) * time.Second, Options: map[string]string{}}
				if v.InvalidPromptPath != "" {
					if ip, err := cache.load(v.InvalidPromptPath); err == nil {
						cfg.InvalidPrompt = ip
					}
				}
				for _, e := range v.Options {
					cfg.Options[e.Key] = e.Value
				}
				return cfg, true
			}
		}
		return apps.IVRConfig{}, false
	}
}
