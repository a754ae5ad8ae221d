package apps

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"luapbx/media/dtmf"
	"luapbx/media/player"
)

// IVR defaults.
const (
	DefaultIVRTimeout = 5 * time.Second
	DefaultInterDigit = 2 * time.Second
	DefaultRetries    = 3
)

// ErrNoChoice is returned by IVR when it would fall back to the default
// target but none is configured: the call layer hangs up.
var ErrNoChoice = errors.New("apps: ivr: no option chosen and no default target")

// IVRConfig is one menu (an `ivrs:` entry with its prompts loaded).
type IVRConfig struct {
	ID            string         // for logs
	Prompt        *player.Prompt // the menu; a digit interrupts it (barge-in)
	InvalidPrompt *player.Prompt // played before the menu again after an invalid choice; optional
	// Timeout is how long to wait for the first digit once the menu has
	// been played (default 5 s).
	Timeout time.Duration
	// InterDigit is how long to wait for the next digit of a multi-digit
	// option, e.g. "12" next to "1" (default 2 s).
	InterDigit time.Duration
	Options    map[string]string // digits -> target
	Default    string            // target on timeout or after Retries invalid choices
	Retries    int               // invalid choices before Default (default 3)
}

// Validate reports a menu that cannot work: no prompt, an option that is
// not DTMF digits or has no target. (Whether targets exist is the config
// checker's business.)
func (c IVRConfig) Validate() error {
	if c.Prompt == nil {
		return fmt.Errorf("ivr %s: no prompt", c.ID)
	}
	for k, target := range c.Options {
		if k == "" {
			return fmt.Errorf("ivr %s: empty option", c.ID)
		}
		if err := dtmf.Valid(k); err != nil {
			return fmt.Errorf("ivr %s: option %q: %w", c.ID, k, err)
		}
		if target == "" {
			return fmt.Errorf("ivr %s: option %q has no target", c.ID, k)
		}
	}
	return nil
}

func (c *IVRConfig) defaults() {
	if c.Timeout <= 0 {
		c.Timeout = DefaultIVRTimeout
	}
	if c.InterDigit <= 0 {
		c.InterDigit = DefaultInterDigit
	}
	if c.Retries <= 0 {
		c.Retries = DefaultRetries
	}
}

// IVR plays the menu and collects the caller's choice with RFC 4733
// digits: a valid option returns its target; an invalid one plays the
// invalid prompt and the menu again; no digit within Timeout, or Retries
// invalid choices, returns Default (ErrNoChoice if it is empty). The call
// layer routes the call to the returned target. ctx ending returns
// ctx.Err(); the media ending an ErrMediaEnded error.
func IVR(ctx context.Context, s *Session, cfg IVRConfig) (string, error) {
	if err := s.acquire(); err != nil {
		return "", err
	}
	defer s.release()
	cfg.defaults()
	log := s.log.With("ivr", cfg.ID)
	// Keys pressed before the menu was ready (right at the answer) count,
	// as if they had interrupted the prompt.
	ahead := s.flushDigits()
	prompts := []*player.Prompt{cfg.Prompt}
	for attempt := 1; ; attempt++ {
		digits, err := s.collect(ctx, &cfg, prompts, ahead)
		ahead = ""
		if err != nil {
			return "", err
		}
		if digits == "" {
			log.Info("ivr timeout", "attempt", attempt, "target", cfg.Default)
			return fallback(cfg)
		}
		if target, ok := cfg.Options[digits]; ok {
			log.Info("ivr choice", "digits", digits, "attempt", attempt, "target", target)
			return target, nil
		}
		log.Info("ivr invalid choice", "digits", digits, "attempt", attempt)
		if attempt >= cfg.Retries {
			log.Info("ivr retries exhausted", "retries", cfg.Retries, "target", cfg.Default)
			return fallback(cfg)
		}
		prompts = []*player.Prompt{cfg.InvalidPrompt, cfg.Prompt}
	}
}

func fallback(cfg IVRConfig) (string, error) {
	if cfg.Default == "" {
		return "", ErrNoChoice
	}
	return cfg.Default, nil
}

// collect plays prompts (a digit interrupts them) and gathers digits until
// they name an option that no longer option extends, can no longer name
// one, or the caller stops pressing keys. It returns "" when no key was
// pressed within Timeout. ahead holds digits pressed before it started:
// the prompts are then skipped.
func (s *Session) collect(ctx context.Context, cfg *IVRConfig, prompts []*player.Prompt, ahead string) (string, error) {
	var digits strings.Builder
	digits.WriteString(ahead)
	barge := func(p *Packet) bool {
		if p.Digit != 0 {
			digits.WriteRune(p.Digit)
			return true
		}
		return false
	}
	if ahead != "" {
		prompts = nil
	}
	for _, p := range prompts {
		interrupted, err := s.playPrompt(ctx, p, barge)
		if err != nil {
			return "", err
		}
		if interrupted {
			break
		}
	}
	wait := cfg.Timeout
	if digits.Len() > 0 {
		wait = cfg.InterDigit
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	pc := s.clock() // the caller hears silence while the menu waits
	for {
		if digits.Len() > 0 && !extendable(cfg.Options, digits.String()) {
			return digits.String(), nil
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-s.done:
			return "", s.ended()
		case <-t.C:
			return digits.String(), nil
		case p := <-s.pkts:
			if p.Digit != 0 {
				digits.WriteRune(p.Digit)
				t.Reset(cfg.InterDigit)
			}
		case <-pc.C():
			if err := s.silence(pc); err != nil {
				return "", err
			}
		}
	}
}

// extendable reports whether a longer option starts with digits (so more
// digits may follow).
func extendable(options map[string]string, digits string) bool {
	for k := range options {
		if len(k) > len(digits) && strings.HasPrefix(k, digits) {
			return true
		}
	}
	return false
}
