package phone

import (
	"github.com/emiago/sipgo/sip"
	"math"
	"sync"
	"time"
)

// States of a Summary.
const (
	StateRegistered   = "registered"
	StateUnregistered = "unregistered"
	StateCompleted    = "completed" // answered, then hung up by either side
	StateAnswered     = "answered"  // answered, still up when the summary was taken
	StateRejected     = "rejected"  // a final non-2xx answer
	StateCancelled    = "cancelled"
	StateTimeout      = "timeout"
	StateFailed       = "failed"
)

// Code is one SIP response seen (in) or sent (out), with the time since the
// action started.
type Code struct {
	Method string  `json:"method"`
	Code   int     `json:"code"`
	Reason string  `json:"reason,omitempty"`
	Dir    string  `json:"dir"` // "in" or "out"
	MS     float64 `json:"ms"`
	cseq   uint32
}

// Summary is the outcome of one register, call or answered call; the CLI
// prints it as JSON.
type Summary struct {
	Action     string  `json:"action"` // register, unregister, call, answer
	CallID     string  `json:"call_id,omitempty"`
	From       string  `json:"from,omitempty"`
	To         string  `json:"to,omitempty"`
	Codes      []Code  `json:"codes"`
	FinalCode  int     `json:"final_code"`
	State      string  `json:"state"`
	HangupBy   string  `json:"hangup_by,omitempty"` // local or remote
	AnswerMS   float64 `json:"answer_ms,omitempty"` // start to answer
	DurationMS float64 `json:"duration_ms"`         // answer to end (calls)
	TotalMS    float64 `json:"total_ms"`
	Codec      string  `json:"codec,omitempty"`
	// Contacts are the bindings the registrar listed in its 200 to a
	// register or unregister: after `unregister`, contacts left by another
	// phone or an earlier run on another port (`unregister --all` ends them).
	Contacts []string   `json:"contacts,omitempty"`
	Media    MediaStats `json:"media,omitzero"`
	Expect   int        `json:"expect,omitempty"`
	ExpectOK bool       `json:"expect_ok"`
	Error    string     `json:"error,omitempty"`
}

// recorder collects a Summary from several goroutines.
type recorder struct {
	mu       sync.Mutex
	start    time.Time
	answered time.Time
	s        Summary
}

func newRecorder(action string) *recorder {
	return &recorder{start: time.Now(), s: Summary{Action: action, Codes: []Code{}}}
}

// code records a response; the same (dir, method, cseq, code) is recorded
// once, so retransmissions and the two paths that see a response (the
// transport observer and the transaction's result) do not double it.
// cseq 0 matches any CSeq.
func (r *recorder) code(method string, cseq uint32, code int, reason, dir string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.s.Codes {
		if c.Dir == dir && c.Method == method && c.Code == code && (cseq == 0 || c.cseq == 0 || c.cseq == cseq) {
			return
		}
	}
	r.s.Codes = append(r.s.Codes, Code{Method: method, Code: code, Reason: reason, Dir: dir,
		MS: ms(time.Since(r.start)), cseq: cseq})
	if (method == "INVITE" || method == "REGISTER") && code >= 200 {
		r.s.FinalCode = code
	}
}

// unrecord removes a code recorded before an attempt that did not happen
// (a 200 refused by a transaction a CANCEL already ended).
func (r *recorder) unrecord(method string, code int, dir string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.s.Codes) - 1; i >= 0; i-- {
		if c := r.s.Codes[i]; c.Method == method && c.Code == code && c.Dir == dir {
			r.s.Codes = append(r.s.Codes[:i], r.s.Codes[i+1:]...)
			break
		}
	}
	r.s.FinalCode = 0
	for _, c := range r.s.Codes {
		if (c.Method == "INVITE" || c.Method == "REGISTER") && c.Code >= 200 {
			r.s.FinalCode = c.Code
		}
	}
}

// response records a SIP response (method and CSeq from its CSeq header).
func (r *recorder) response(res *sip.Response, dir string) {
	method, cseq := "", uint32(0)
	if h := res.CSeq(); h != nil {
		method, cseq = string(h.MethodName), h.SeqNo
	}
	r.code(method, cseq, res.StatusCode, res.Reason, dir)
}

func cseqOf(req *sip.Request) uint32 {
	if h := req.CSeq(); h != nil {
		return h.SeqNo
	}
	return 0
}

func (r *recorder) answer(codec string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answered = time.Now()
	r.s.AnswerMS = ms(r.answered.Sub(r.start))
	r.s.Codec = codec
	r.s.State = StateAnswered
}

// unanswer undoes answer (the answer never went out).
func (r *recorder) unanswer() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answered = time.Time{}
	r.s.AnswerMS, r.s.Codec, r.s.State = 0, "", ""
}

func (r *recorder) update(f func(s *Summary)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(&r.s)
}

// finish closes the summary; an answered call becomes completed.
func (r *recorder) finish(state string, err error) Summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	switch {
	case state != "":
		r.s.State = state
	case r.s.State == StateAnswered:
		r.s.State = StateCompleted
	}
	if err != nil && r.s.Error == "" {
		r.s.Error = err.Error()
	}
	if !r.answered.IsZero() {
		r.s.DurationMS = ms(now.Sub(r.answered))
	}
	r.s.TotalMS = ms(now.Sub(r.start))
	if r.s.Expect != 0 {
		r.s.ExpectOK = r.s.FinalCode == r.s.Expect
	} else {
		r.s.ExpectOK = r.s.FinalCode >= 200 && r.s.FinalCode < 300
	}
	s := r.s
	s.Codes = append([]Code(nil), r.s.Codes...)
	return s
}

// ms is d in milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }
