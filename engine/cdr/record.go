// Package cdr stores call detail records: one row per call, in SQLite (the
// default, one local file) or PostgreSQL (several nodes, one database).
//
// The call path hands finished records to a Writer, which batches them into
// the Store off the call path; the admin API reads them back with List, Get
// and WriteCSV.
package cdr

import (
	"encoding/json"
	"time"
)

// Disposition is how a call ended.
type Disposition string

// Dispositions of a call.
const (
	Answered Disposition = "answered"  // the callee answered (2xx)
	NoAnswer Disposition = "no_answer" // rang out, or the caller gave up (CANCEL, 408, 480, 487)
	Busy     Disposition = "busy"      // 486 or 600
	Failed   Disposition = "failed"    // network, trunk or server failure (5xx, unreachable)
	Rejected Disposition = "rejected"  // refused by policy: 403, 404, 482, reject: targets
)

// Dispositions lists every valid disposition, in a stable order.
var Dispositions = []Disposition{Answered, NoAnswer, Busy, Failed, Rejected}

// Valid reports whether d is one of the defined dispositions.
func (d Disposition) Valid() bool {
	for _, v := range Dispositions {
		if d == v {
			return true
		}
	}
	return false
}

// Party is who hung up a call.
type Party string

// Parties that can end a call.
const (
	Caller Party = "caller"
	Callee Party = "callee"
	System Party = "system" // the PBX: timeout, error, play-then-hangup, shutdown
)

// Source tells who made the final routing decision.
type Source string

// Decision sources.
const (
	SourceBuiltin Source = "builtin" // the scored rules and maps
	SourceLua     Source = "lua"     // an on_route/on_map/on_offhours hook changed it
)

// Record is one call detail record. Times are stored with microsecond
// precision and read back in UTC; Duration is stored in milliseconds.
// The zero time means "did not happen" (e.g. Answer of an unanswered call)
// and is stored as NULL. HangupCause is the call layer's cause verbatim
// (normal, busy, no_answer, cancel, rejected, failed, no_ack, shutdown,
// rtp_timeout, media_failed, ...). AnsweredBy names the callee that
// answered: the extension number of a user or a ring group's member, the
// trunk id of a gateway; empty when no callee answered (a voicemail or an
// IVR the PBX answered itself, an unanswered call). Records stored before
// migrations 0002 and 0003 read back with both empty.
type Record struct {
	CallID      string `json:"call_id"`      // SIP Call-ID of the caller's leg; the primary key
	Company     string `json:"company"`      // the caller extension's company, or the trunk's
	CallerType  string `json:"caller_type"`  // "internal" or "external"
	From        string `json:"from"`         // calling number
	Dialled     string `json:"dialled"`      // called number as received
	FinalNumber string `json:"final_number"` // number after maps
	DID         string `json:"did"`          // for external calls
	Trunk       string `json:"trunk"`        // inbound trunk, or the gateway that carried it out
	Rule        string `json:"rule"`         // winning rule (e.g. "mobiles", "ext:201")
	Target      string `json:"target"`       // e.g. "gateway:p1", "voicemail:201"
	Source      Source `json:"source"`       // builtin or lua
	OffHours    string `json:"offhours"`     // name of the off-hours entry taken, if any
	Generation  int64  `json:"generation"`   // config generation the call ran with

	Start  time.Time `json:"start"`
	Answer time.Time `json:"answer,omitzero"`
	End    time.Time `json:"end,omitzero"`
	// Duration is the whole call, End - Start (in JSON: nanoseconds).
	Duration time.Duration `json:"duration_ns"`
	// BillableSeconds is the answered part, as the call code computed it.
	BillableSeconds int64 `json:"billable_seconds"`

	Disposition   Disposition `json:"disposition"`
	SIPCode       int         `json:"sip_code"` // final SIP status towards the caller
	HangupBy      Party       `json:"hangup_by"`
	HangupCause   string      `json:"hangup_cause"` // why it ended: normal, cancel, rtp_timeout, ... ("" in old rows)
	AnsweredBy    string      `json:"answered_by"`  // callee that answered: "203" (a group's member), a trunk id; "" if none
	RecordingPath string      `json:"recording_path,omitempty"`

	// Explanation is the routing decision explanation as JSON text. It is
	// stored verbatim (TEXT, not validated); the caller must not modify the
	// slice after Add.
	Explanation json.RawMessage `json:"explanation,omitempty"`
}
