package cdr

import (
	"bytes"
	"context"
	"encoding/csv"
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestWriteCSVParsesBack writes stored records as CSV and reads them back
// with encoding/csv, field by field.
func TestWriteCSVParsesBack(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t testing.TB) Store) {
		s := open(t)
		ctx := context.Background()
		var in []Record
		for i := range 6 {
			in = append(in, sampleRecord(i))
		}
		in[1].From = "=HYPERLINK(\"http://evil\")"       // formula injection from a caller
		in[2].RecordingPath = "dir/with,comma \"q\".wav" // quoting
		in[3].Explanation = []byte("{\"a\":\"line1\\nline2\"}\n")
		in[5].AnsweredBy = "=cmd|' /C calc'!A0" // a trunk id is config, but defused all the same
		if _, err := s.Insert(ctx, in); err != nil {
			t.Fatal(err)
		}
		recs, err := s.List(ctx, Filter{})
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := WriteCSV(&buf, recs); err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(&buf).ReadAll()
		if err != nil {
			t.Fatalf("CSV does not parse: %v\n%s", err, buf.String())
		}
		if len(rows) != len(recs)+1 || !slices.Equal(rows[0], CSVHeader) {
			t.Fatalf("got %d rows, header %v", len(rows), rows[0])
		}
		col := func(name string) int { return slices.Index(CSVHeader, name) }
		if by, cause := col("hangup_by"), col("hangup_cause"); by < 0 || cause != by+1 {
			t.Fatalf("hangup_cause is column %d, want %d (right after hangup_by)", cause, by+1)
		}
		if cause, ans := col("hangup_cause"), col("answered_by"); ans != cause+1 {
			t.Fatalf("answered_by is column %d, want %d (right after hangup_cause)", ans, cause+1)
		}
		for i, r := range recs {
			row := rows[i+1]
			checkCSVRow(t, row, r, col)
		}
	})
}

func checkCSVRow(t *testing.T, row []string, r Record, col func(string) int) {
	t.Helper()
	wantFrom := r.From
	if wantFrom != "" && wantFrom[0] == '=' {
		wantFrom = "'" + wantFrom
	}
	wantAnsweredBy := r.AnsweredBy
	if wantAnsweredBy != "" && wantAnsweredBy[0] == '=' {
		wantAnsweredBy = "'" + wantAnsweredBy
	}
	checks := map[string]string{
		"call_id":          r.CallID,
		"from":             wantFrom,
		"final_number":     r.FinalNumber,
		"disposition":      string(r.Disposition),
		"sip_code":         strconv.Itoa(r.SIPCode),
		"hangup_by":        string(r.HangupBy),
		"hangup_cause":     r.HangupCause,
		"answered_by":      wantAnsweredBy,
		"recording_path":   r.RecordingPath,
		"explanation":      string(r.Explanation),
		"generation":       strconv.FormatInt(r.Generation, 10),
		"billable_seconds": strconv.FormatInt(r.BillableSeconds, 10),
	}
	for name, want := range checks {
		if got := row[col(name)]; got != want {
			t.Errorf("%s: column %s = %q, want %q", r.CallID, name, got, want)
		}
	}
	start, err := time.Parse(time.RFC3339, row[col("start")])
	if err != nil || !start.Equal(r.Start.Truncate(time.Second)) {
		t.Errorf("%s: start %q (%v), want %v", r.CallID, row[col("start")], err, r.Start)
	}
	if r.Answer.IsZero() != (row[col("answer")] == "") {
		t.Errorf("%s: answer %q for answer time %v", r.CallID, row[col("answer")], r.Answer)
	}
	secs, err := strconv.ParseFloat(row[col("duration_seconds")], 64)
	if err != nil || time.Duration(secs*1000)*time.Millisecond != r.Duration {
		t.Errorf("%s: duration_seconds %q, want %v", r.CallID, row[col("duration_seconds")], r.Duration)
	}
}

func TestCSVSafe(t *testing.T) {
	tests := []struct{ in, want string }{
		{in: "", want: ""},
		{in: "201", want: "201"},
		{in: "+393471234567", want: "+393471234567"},
		{in: "+39 (347) 123-4567", want: "+39 (347) 123-4567"},
		{in: "-42", want: "-42"},
		{in: "*21#", want: "*21#"},
		{in: "=1+1", want: "'=1+1"},
		{in: "@SUM(A1)", want: "'@SUM(A1)"},
		{in: "+cmd|' /C calc'!A0", want: "'+cmd|' /C calc'!A0"},
		{in: "-2+3+cmd", want: "'-2+3+cmd"},
		{in: "\tx", want: "'\tx"},
		{in: "alice", want: "alice"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := csvSafe(tt.in); got != tt.want {
				t.Fatalf("csvSafe(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
