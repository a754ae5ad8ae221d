package routing

import (
	"fmt"
	"strings"
	"time"
)

// Classify fills in a call's company, caller type and extension: a trunk
// makes the call external and gives the trunk's company; a calling number
// that is an extension makes it internal. companyID may be "" when the plan
// has one company, or when the extension or trunk tells.
func (r *Router) Classify(call *Call, companyID string) error {
	if companyID != "" && r.companies[companyID] == nil {
		return fmt.Errorf("unknown company %q (the plan has %s)", companyID, strings.Join(r.Companies(), ", "))
	}
	for _, c := range r.order {
		if companyID != "" && c.id != companyID {
			continue
		}
		if call.Trunk != "" {
			if c.trunks[call.Trunk] {
				call.Company, call.CallerType, call.Extension = c.id, External, ""
				if call.DID == "" {
					call.DID = Normalize(call.To)
				}
				return nil
			}
			continue
		}
		if c.exts[Normalize(call.From)] != nil {
			call.Company, call.CallerType, call.Extension = c.id, Internal, Normalize(call.From)
			return nil
		}
	}
	if call.Trunk != "" {
		return fmt.Errorf("unknown trunk %q", call.Trunk)
	}
	switch {
	case companyID != "":
		call.Company = companyID
	case len(r.order) == 1:
		call.Company = r.order[0].id
	default:
		return fmt.Errorf("%s is not an extension: say which company with --company (one of %s)", call.From, strings.Join(r.Companies(), ", "))
	}
	call.CallerType, call.Extension = External, ""
	if call.DID == "" {
		call.DID = Normalize(call.To)
	}
	return nil
}

// Location is a company's time zone (UTC for an unknown company).
func (r *Router) Location(companyID string) *time.Location {
	if c := r.companies[companyID]; c != nil {
		return c.loc
	}
	return time.UTC
}

// Report is a decision with its explanation, the shape of
// `luapbx route --json` and of GET /api/route.
type Report struct {
	Target      string `json:"target"`
	Number      string `json:"number"`
	Rule        string `json:"rule"`
	Record      bool   `json:"record"`
	Integration bool   `json:"integration"`
	Source      string `json:"source"`
	Offhours    string `json:"offhours"`
	Class       string `json:"class,omitempty"`
	Score       Score  `json:"score"`
	Explanation
}

// NewReport joins a decision and its explanation.
func NewReport(d Decision, ex Explanation) Report {
	return Report{
		Target: d.Target.String(), Number: d.Number, Rule: d.Rule, Record: d.Record,
		Integration: d.Integration, Source: d.Source.String(), Offhours: d.Offhours,
		Class: d.Class, Score: d.Score, Explanation: ex,
	}
}

// Text renders the report for people: the decision first, then how.
func (rp Report) Text() string {
	var b strings.Builder
	who := "external caller " + rp.From
	if rp.CallerType == "internal" {
		who = "extension " + rp.From
	}
	if rp.Trunk != "" {
		who += " via trunk " + rp.Trunk
	}
	fmt.Fprintf(&b, "Call from %s to %s (company %s, %s call, %s)\n\n", who, rp.To, rp.Company, rp.CallerType, rp.Time)
	fmt.Fprintf(&b, "Decision: %s\n", describeTarget(rp.Target, rp.Number))
	rule := rp.Rule
	switch {
	case rp.Offhours != "":
		rule = "off-hours entry " + rp.Offhours
	case rule == "":
		rule = "no rule (none matched)"
	}
	if rp.Rule != "" && rp.Offhours == "" {
		rule = "rule " + rule
	}
	fmt.Fprintf(&b, "  by %s (source: %s); record: %s, integration: %s\n", rule, rp.Source, yesNo(rp.Record), yesNo(rp.Integration))
	if w := rp.winner(); w != nil {
		fmt.Fprintf(&b, "  why: %s %s\n", w.Rule, w.Why)
	}
	if rp.Rights != "" {
		fmt.Fprintf(&b, "  refused by rights: %s\n", rp.Rights)
	}
	b.WriteString("\nHow:\n")
	for _, o := range rp.OffhoursChecks {
		fmt.Fprintf(&b, "  off-hours %q: %s\n", o.Entry, o.Why)
	}
	steps := len(rp.Maps) // step s ends with Maps[s] when there is one
	for _, c := range rp.Candidates {
		steps = max(steps, c.Step+1)
	}
	for s := 0; s < steps; s++ {
		rp.writeStep(&b, s)
	}
	for _, l := range rp.Lua {
		fmt.Fprintf(&b, "  lua: %s\n", l)
	}
	for _, e := range rp.HookErrors {
		fmt.Fprintf(&b, "  lua error: %s\n", e)
	}
	for _, n := range rp.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	fmt.Fprintf(&b, "\nconfig generation %d\n", rp.Generation)
	return b.String()
}

// winner is the winning candidate of the last step that had one.
func (rp Report) winner() *Candidate {
	var w *Candidate
	for i := range rp.Candidates {
		if c := &rp.Candidates[i]; c.Won && (w == nil || c.Step >= w.Step) {
			w = c
		}
	}
	return w
}

func (rp Report) writeStep(b *strings.Builder, s int) {
	number := ""
	var cands []Candidate
	for _, c := range rp.Candidates {
		if c.Step == s {
			cands, number = append(cands, c), c.Number
		}
	}
	if number == "" && s < len(rp.Maps) {
		number = rp.Maps[s].From
	}
	if number == "" {
		return
	}
	fmt.Fprintf(b, "  step %d: number %s\n", s+1, number)
	if len(cands) == 0 && s >= len(rp.Maps) {
		b.WriteString("    no rule's called pattern matches\n")
	}
	for _, c := range cands {
		mark := " "
		switch {
		case c.Won:
			mark = "*"
		case !c.Matched:
			mark = "-"
		}
		kind := ""
		if c.Implicit {
			kind = " (implicit)"
		}
		fmt.Fprintf(b, "   %s %-16s called %-12s calling %-6s %s\n", mark, c.Rule+kind, c.Called, c.Calling, c.Why)
		if c.Matched {
			fmt.Fprintf(b, "     %-16s score: %s\n", "", c.Score)
		}
	}
	if s < len(rp.Maps) {
		m := rp.Maps[s]
		fmt.Fprintf(b, "    %s rewrites %s -> %s, routing again\n", m.Rule, m.From, m.To)
	}
}

func describeTarget(target, number string) string {
	t, err := ParseTarget(target)
	if err != nil {
		return target
	}
	switch t.Kind {
	case TargetUser:
		return "ring extension " + t.Arg + " (" + target + ")"
	case TargetGroup:
		return "ring group " + t.Arg + " (" + target + ")"
	case TargetGateway:
		return "dial " + number + " out through trunk " + strings.ReplaceAll(t.Arg, ",", ", then ") + " (" + target + ")"
	case TargetIVR:
		return "answer with IVR " + t.Arg + " (" + target + ")"
	case TargetVoicemail:
		return "voicemail of extension " + t.Arg + " (" + target + ")"
	case TargetPlay:
		return "play " + t.Arg + " and hang up (" + target + ")"
	case TargetReject:
		return "reject with SIP " + t.Arg + " (" + target + ")"
	case TargetApp:
		return "run app " + t.Arg + " (" + target + ")"
	}
	return target
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
