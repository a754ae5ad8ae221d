package routing

import (
	"fmt"
	"strings"
)

// Explanation tells how a decision was made: every rule whose called
// pattern matched, with its score and why it won or lost, the maps applied,
// the off-hours entries checked, what scripts changed, and the generation.
type Explanation struct {
	Generation     uint64          `json:"generation"`
	Company        string          `json:"company"`
	CallerType     string          `json:"caller_type"`
	From           string          `json:"from"`
	To             string          `json:"to"`
	Trunk          string          `json:"trunk,omitempty"`
	Time           string          `json:"time"`
	OffhoursChecks []OffhoursCheck `json:"offhours_checks,omitempty"`
	Candidates     []Candidate     `json:"candidates"`
	Maps           []MapStep       `json:"maps"`
	Lua            []string        `json:"lua,omitempty"`
	HookErrors     []string        `json:"hook_errors,omitempty"`
	Rights         string          `json:"rights,omitempty"`
	Notes          []string        `json:"notes,omitempty"`
}

// Candidate is a rule whose called pattern matched the number of one routing
// step (step 0 is the dialled number, each map starts the next step).
type Candidate struct {
	Step     int    `json:"step"`
	Number   string `json:"number"`
	Rule     string `json:"rule"`
	Implicit bool   `json:"implicit,omitempty"`
	Called   string `json:"called"`
	Calling  string `json:"calling"`
	Score    Score  `json:"score"`
	Matched  bool   `json:"matched"`
	Won      bool   `json:"won"`
	Why      string `json:"why"`
}

// MapStep is one number rewrite.
type MapStep struct {
	Rule string `json:"rule"`
	From string `json:"from"`
	To   string `json:"to"`
}

// OffhoursCheck is one off-hours entry looked at for an external call.
type OffhoursCheck struct {
	Entry     string `json:"entry"`
	Timetable string `json:"timetable"`
	Applied   bool   `json:"applied"`
	Why       string `json:"why"`
}

func (ex *Explanation) start(r *Router, call *Call) {
	*ex = Explanation{
		Generation: r.gen, Company: call.Company, CallerType: call.CallerType.String(),
		From: call.From, To: call.To, Trunk: call.Trunk,
		Candidates: []Candidate{}, Maps: []MapStep{},
	}
}

func (ex *Explanation) note(format string, args ...any) {
	ex.Notes = append(ex.Notes, fmt.Sprintf(format, args...))
}

func (ex *Explanation) hookError(hook string, err error) {
	if ex != nil {
		ex.HookErrors = append(ex.HookErrors, hook+": "+err.Error()+" (the built-in decision stands)")
	}
}

func (ex *Explanation) luaChange(hook string, before, after Decision) {
	var parts []string
	if before.Target != after.Target {
		parts = append(parts, fmt.Sprintf("target %s -> %s", before.Target, after.Target))
	}
	if before.Number != after.Number {
		parts = append(parts, fmt.Sprintf("number %s -> %s", before.Number, after.Number))
	}
	if before.Record != after.Record {
		parts = append(parts, fmt.Sprintf("record %t -> %t", before.Record, after.Record))
	}
	if before.Integration != after.Integration {
		parts = append(parts, fmt.Sprintf("integration %t -> %t", before.Integration, after.Integration))
	}
	if len(parts) == 0 {
		parts = append(parts, "nothing (returned the same values)")
	}
	ex.Lua = append(ex.Lua, fmt.Sprintf("%s changed %s", hook, strings.Join(parts, ", ")))
}

func (ex *Explanation) offhoursEntry(oh *offhours, number string, now clock, applied bool) {
	if ex == nil {
		return
	}
	chk := OffhoursCheck{Entry: oh.name, Timetable: oh.open.ID, Applied: applied}
	switch {
	case oh.dids != nil && !oh.dids[number]:
		chk.Why = number + " is not one of its DIDs"
	case !applied:
		chk.Why = "open: inside timetable " + oh.open.ID
	case oh.open.holiday(now.date):
		chk.Why = "closed: holiday in timetable " + oh.open.ID + ", so " + oh.target.String()
	default:
		chk.Why = "closed: outside timetable " + oh.open.ID + ", so " + oh.target.String()
	}
	ex.OffhoursChecks = append(ex.OffhoursChecks, chk)
}

func (ex *Explanation) mapped(rule, from, to string) {
	if ex != nil {
		ex.Maps = append(ex.Maps, MapStep{Rule: rule, From: from, To: to})
	}
}

// candidate records a rule whose called pattern matched; m tells whether it
// serves the call, or why not.
func (ex *Explanation) candidate(step int, number string, rl *rule, m miss) {
	if ex == nil {
		return
	}
	ex.Candidates = append(ex.Candidates, Candidate{
		Step: step, Number: number, Rule: rl.name, Implicit: rl.implicit,
		Called: rl.called.src, Calling: rl.calling.src, Score: rl.score(), Matched: m == served, Why: rl.why(m),
	})
}

// decided marks the winner of a step and says why every other matching
// rule lost to it.
func (ex *Explanation) decided(step, best int, c *company) {
	if ex == nil || best < 0 {
		return
	}
	w := &c.rules[best]
	var win *Candidate
	for i := range ex.Candidates {
		cd := &ex.Candidates[i]
		if cd.Step == step && cd.Matched && cd.Rule == w.name && cd.Implicit == w.implicit {
			win = cd
		}
	}
	if win == nil {
		return
	}
	win.Won = true
	others, tiedWith, implicitLoser := 0, "", ""
	for i := range ex.Candidates {
		cd := &ex.Candidates[i]
		if cd.Step != step || !cd.Matched || cd == win {
			continue
		}
		others++
		cd.Why = lostWhy(cd, win)
		if cd.Why != "" {
			continue
		}
		if cd.Implicit && !win.Implicit {
			cd.Why = "lost to " + win.Rule + ": same score, and an explicit rule beats the implicit one"
			implicitLoser = cd.Rule
			continue
		}
		cd.Why = "lost to " + win.Rule + ": same score (a tie), and " + win.Rule + " is written first"
		if tiedWith == "" {
			tiedWith = cd.Rule
		}
	}
	switch {
	case others == 0:
		win.Why = "won: the only rule that serves this call"
	case tiedWith != "":
		win.Why = "won: same score as " + tiedWith + " (a tie), and it is written first"
	case implicitLoser != "":
		win.Why = "won: same score as the implicit rule " + implicitLoser + ", and an explicit rule beats an implicit one"
	default:
		win.Why = "won: highest score"
	}
}

// lostWhy compares a loser's score with the winner's; "" means a tie.
func lostWhy(l, w *Candidate) string {
	switch {
	case l.Score.Called != w.Score.Called:
		return fmt.Sprintf("lost to %s: called number matched %s, the winner %s", w.Rule, l.Score.Called, w.Score.Called)
	case l.Score.TimeBand != w.Score.TimeBand:
		return fmt.Sprintf("lost to %s: same called score, but the winner has a timetable that is open now", w.Rule)
	case l.Score.Calling != w.Score.Calling:
		return fmt.Sprintf("lost to %s: same called score and time band, calling number matched %s, the winner %s", w.Rule, l.Score.Calling, w.Score.Calling)
	}
	return ""
}
