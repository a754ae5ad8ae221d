package reload

import (
	"fmt"
	"time"

	"luapbx/engine/config"
	"luapbx/engine/routing"
)

// Query is a decision asked for without a call: by `luapbx route` and
// GET /api/route.
type Query struct {
	From, To, Company, Trunk string
	At                       string // RFC 3339, or local wall time "2026-11-23T10:00" in the company's zone; "" = now
	NoLua                    bool
}

// Route decides q against the snapshot and explains the decision.
func (s *Snapshot) Route(q Query, now time.Time) (routing.Report, error) {
	if q.To == "" || q.From == "" {
		return routing.Report{}, fmt.Errorf("say who calls (from) and which number is called (to)")
	}
	call := routing.Call{ID: "route-query", From: q.From, To: q.To, Trunk: q.Trunk}
	if err := s.Router.Classify(&call, q.Company); err != nil {
		return routing.Report{}, err
	}
	call.Time = now
	if q.At != "" {
		at, err := config.ParseAt(q.At, s.Router.Location(call.Company))
		if err != nil {
			return routing.Report{}, err
		}
		call.Time = at
	}
	var hooks routing.Hooks
	if !q.NoLua {
		hooks = s.Hooks()
	}
	var ex routing.Explanation
	d := s.Router.Decide(&call, hooks, &ex)
	if q.NoLua {
		ex.Notes = append(ex.Notes, "scripts not run (no-lua): this is the built-in decision")
	}
	return routing.NewReport(d, ex), nil
}
