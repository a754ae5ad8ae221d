package config

import (
	"errors"

	"luapbx/engine/routing"
)

// Plan converts the config to the router's input. Generation tags every
// decision's explanation with the config it came from.
func (c *Config) Plan(gen uint64) routing.Plan {
	p := routing.Plan{Generation: gen, Companies: make([]routing.CompanySpec, len(c.Companies))}
	for i := range c.Companies {
		p.Companies[i] = c.Companies[i].spec()
	}
	return p
}

func (co *Company) spec() routing.CompanySpec {
	s := routing.CompanySpec{ID: co.ID, Location: co.Location}
	for _, e := range co.Classes {
		s.Classes = append(s.Classes, routing.ClassSpec{Name: e.Key, Pattern: e.Value})
	}
	for _, e := range co.Extensions {
		s.Extensions = append(s.Extensions, routing.ExtensionSpec{Number: e.Number, Rights: e.Rights, Voicemail: e.Voicemail})
	}
	for _, g := range co.Groups {
		s.Groups = append(s.Groups, g.Number)
	}
	for _, v := range co.IVRs {
		s.IVRs = append(s.IVRs, routing.IVRSpec{ID: v.ID, Number: v.Number})
	}
	for _, t := range co.Trunks {
		s.Trunks = append(s.Trunks, t.ID)
	}
	for _, t := range co.Timetables {
		ts := routing.TimetableSpec{ID: t.ID, Holidays: t.Holidays}
		for _, w := range t.Weekly {
			ts.Weekly = append(ts.Weekly, routing.WeeklySpec{Days: w.Days, Hours: w.Hours})
		}
		s.Timetables = append(s.Timetables, ts)
	}
	for _, o := range co.Offhours {
		s.Offhours = append(s.Offhours, routing.OffhoursSpec{Name: o.Name, Open: o.Open, DIDs: o.DIDs, Target: o.Target})
	}
	for _, r := range co.Rules {
		rs := routing.RuleSpec{
			Name: r.Name, Enabled: r.Enabled, CallerType: r.CallerType, Calling: r.Calling,
			Called: r.Called, Timetable: r.Timetable, Action: r.Action, Target: r.Target,
			Record: r.Record, Integration: r.Integration,
		}
		if r.Map != nil {
			rs.Map = &routing.MapSpec{To: r.Map.To, Strip: r.Map.Strip, Prepend: r.Map.Prepend}
		}
		s.Rules = append(s.Rules, rs)
	}
	return s
}

// checkPlan runs routing.New and reports each of its errors on the line of
// the config node it names. An error under a path that already has one (a
// value of the wrong type, say) is a follow-on and is dropped. It returns
// the router when the plan builds.
func checkPlan(c *Config, rep *report) *routing.Router {
	r, err := routing.New(c.Plan(0))
	if err == nil {
		return r
	}
	var pes routing.Errors
	if !errors.As(err, &pes) {
		rep.errorf("companies", "%v", err)
		return nil
	}
	for _, pe := range pes {
		rep.errorf(pe.Path, "%v", pe.Err) // dropped under a node already reported unusable
	}
	return nil
}
