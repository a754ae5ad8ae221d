package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net/url"
	"slices"
	"strings"
	"time"

	"luapbx/engine/ban"
	"luapbx/engine/call"
	"luapbx/engine/cdr"
	"luapbx/engine/registrar"
	"luapbx/engine/reload"
	"luapbx/engine/routing"
	"luapbx/engine/trunk"
)

// view is what the templates render.
type view struct {
	At  time.Time
	JS  template.JS
	CSS template.CSS

	Calls      []liveCall
	HasCalls   bool // Source.Calls is set
	Extensions []registrar.Binding
	HasExt     bool
	Trunks     []trunk.State
	HasTrunks  bool
	Bans       []ban.Entry
	Reload     *reload.Status
	Recent     []recentCall
	HasRecent  bool
	RecentErr  string
	TrunksUp   int
}

type liveCall struct {
	call.Info
	Duration string // since the INVITE
	Talk     string // since the answer, "" before it
}

type recentCall struct {
	cdr.Record
	Duration     string
	Expl         *routing.Explanation // nil: none or undecodable
	ExplRaw      string               // the stored text when it did not decode
	Winner       string               // the winning candidate's rule, from Expl
	RecordingURL string               // relative URL of the WAV, "" without one
}

func (h *Handler) build(ctx context.Context) *view {
	s := h.src
	now := s.Now()
	v := &view{At: now, JS: h.js, CSS: h.css}
	if s.Calls != nil {
		v.HasCalls = true
		for _, c := range s.Calls() {
			lc := liveCall{Info: c, Duration: human(now.Sub(c.Start))}
			if !c.Answered.IsZero() {
				lc.Talk = human(now.Sub(c.Answered))
			}
			v.Calls = append(v.Calls, lc)
		}
	}
	if s.Extensions != nil {
		v.HasExt = true
		v.Extensions = slices.Clone(s.Extensions())
		slices.SortStableFunc(v.Extensions, func(a, b registrar.Binding) int {
			return strings.Compare(a.AOR, b.AOR)
		})
	}
	if s.Trunks != nil {
		v.HasTrunks = true
		v.Trunks = slices.Clone(s.Trunks())
		slices.SortStableFunc(v.Trunks, func(a, b trunk.State) int { return strings.Compare(a.ID, b.ID) })
		for _, t := range v.Trunks {
			if t.Up {
				v.TrunksUp++
			}
		}
	}
	if s.Bans != nil {
		v.Bans = s.Bans()
	}
	if s.Reload != nil {
		st := s.Reload()
		v.Reload = &st
	}
	if s.RecentCalls != nil {
		v.HasRecent = true
		recs, err := s.RecentCalls(ctx, s.RecentLimit)
		if err != nil {
			v.RecentErr = err.Error()
		}
		for _, r := range recs {
			v.Recent = append(v.Recent, recent(r))
		}
	}
	return v
}

func recent(r cdr.Record) recentCall {
	rc := recentCall{Record: r, Duration: human(r.Duration)}
	if r.RecordingPath != "" {
		rc.RecordingURL = RecordingURL(r.CallID)
	}
	if len(r.Explanation) == 0 || string(r.Explanation) == "null" {
		return rc
	}
	var ex routing.Explanation
	if err := json.Unmarshal(r.Explanation, &ex); err != nil {
		rc.ExplRaw = string(r.Explanation)
		return rc
	}
	rc.Expl = &ex
	for _, c := range ex.Candidates {
		if c.Won {
			rc.Winner = c.Rule
		}
	}
	return rc
}

// RecordingURL is the page-relative URL of a call's recording
// ("api/recordings/<escaped id>"), served by RecordingHandler. It is
// relative so the page also works behind a path prefix.
func RecordingURL(callID string) string {
	return "api/recordings/" + url.PathEscape(callID)
}

// human writes a duration as the dashboard shows it: "42s", "3m07s",
// "1h02m".
func human(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	default:
		return fmt.Sprintf("%dh%02dm", s/3600, (s%3600)/60)
	}
}

// funcs are the template helpers.
var funcs = template.FuncMap{
	"clock": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.Local().Format("2006-01-02 15:04:05 MST") // the server's zone, named
	},
	"in": func(now, t time.Time) string { // "in 3m07s" / "3m07s ago"
		if t.IsZero() {
			return "—"
		}
		if d := t.Sub(now); d >= 0 {
			return "in " + human(d)
		}
		return human(now.Sub(t)) + " ago"
	},
	"dflt": func(s, alt string) string {
		if s == "" {
			return alt
		}
		return s
	},
	"lower": strings.ToLower,
}
