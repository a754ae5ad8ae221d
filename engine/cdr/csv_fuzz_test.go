package cdr

import (
	"bytes"
	"encoding/csv"
	"slices"
	"strings"
	"testing"
)

// FuzzCSVRoundTrip feeds caller-controlled text (a From number, a path, an
// explanation, who answered) through WriteCSV and parses it back with encoding/csv: the
// output must always parse, keep one row per record, and give back each
// field, defused by at most a leading quote.
func FuzzCSVRoundTrip(f *testing.F) {
	f.Add("201", "var/rec.wav", `{"rule":"x"}`, "203")
	f.Add("=cmd|' /C calc'!A0", "a,b\"c", "line1\nline2", "")
	f.Add("+39 347", "\r\n", "\"", "@p1,\"x\"")
	f.Fuzz(func(t *testing.T, from, path, explanation, answeredBy string) {
		r := sampleRecord(1)
		r.From, r.RecordingPath, r.Explanation, r.AnsweredBy = from, path, []byte(explanation), answeredBy
		var buf bytes.Buffer
		if err := WriteCSV(&buf, []Record{r, r}); err != nil {
			t.Fatalf("WriteCSV: %v", err)
		}
		rows, err := csv.NewReader(&buf).ReadAll()
		if err != nil {
			t.Fatalf("output does not parse: %v\n%q", err, buf.String())
		}
		if len(rows) != 3 {
			t.Fatalf("%d rows, want 3", len(rows))
		}
		if len(rows[1]) != len(CSVHeader) {
			t.Fatalf("%d columns, want %d", len(rows[1]), len(CSVHeader))
		}
		for name, want := range map[string]string{"from": from, "recording_path": path, "explanation": explanation,
			"answered_by": answeredBy} {
			col := slices.Index(CSVHeader, name)
			got := rows[1][col]
			if got != csvReadBack(want) && got != csvReadBack("'"+want) {
				t.Fatalf("column %s = %q, want %q", CSVHeader[col], got, want)
			}
			if got != "" && strings.ContainsRune("=@", rune(got[0])) {
				t.Fatalf("column %s starts a formula: %q", CSVHeader[col], got)
			}
		}
	})
}

// csvReadBack is s as encoding/csv reads it back: a quoted \r\n becomes \n.
func csvReadBack(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }
