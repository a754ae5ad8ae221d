package cdr

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// CSVHeader is the first row WriteCSV writes, one name per column.
var CSVHeader = []string{
	"call_id", "company", "caller_type", "from", "dialled", "final_number", "did",
	"trunk", "rule", "target", "source", "offhours", "generation",
	"start", "answer", "end", "duration_seconds", "billable_seconds",
	"disposition", "sip_code", "hangup_by", "hangup_cause", "answered_by", "recording_path", "explanation",
}

// WriteCSV writes recs as CSV with a header row. Times are RFC 3339 in UTC
// (empty when the event did not happen), the duration is in seconds with
// millisecond decimals. Text that a spreadsheet would run as a formula is
// prefixed with a single quote (numbers such as +3934... are left alone).
func WriteCSV(w io.Writer, recs []Record) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return fmt.Errorf("cdr: write csv: %w", err)
	}
	row := make([]string, len(CSVHeader))
	for i := range recs {
		csvRow(row, &recs[i])
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("cdr: write csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("cdr: write csv: %w", err)
	}
	return nil
}

func csvRow(row []string, r *Record) {
	texts := []string{
		r.CallID, r.Company, r.CallerType, r.From, r.Dialled, r.FinalNumber, r.DID,
		r.Trunk, r.Rule, r.Target, string(r.Source), r.OffHours,
	}
	for i, s := range texts {
		row[i] = csvSafe(s)
	}
	row[12] = strconv.FormatInt(r.Generation, 10)
	row[13] = csvTime(r.Start)
	row[14] = csvTime(r.Answer)
	row[15] = csvTime(r.End)
	row[16] = strconv.FormatFloat(float64(r.Duration.Milliseconds())/1000, 'f', 3, 64)
	row[17] = strconv.FormatInt(r.BillableSeconds, 10)
	row[18] = csvSafe(string(r.Disposition))
	row[19] = strconv.Itoa(r.SIPCode)
	row[20] = csvSafe(string(r.HangupBy))
	row[21] = csvSafe(r.HangupCause)
	row[22] = csvSafe(r.AnsweredBy)
	row[23] = csvSafe(r.RecordingPath)
	row[24] = csvSafe(string(r.Explanation))
}

func csvTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// csvSafe defuses spreadsheet formula injection (a caller controls the
// From number): a cell starting with = @ TAB CR, or with + or - not followed
// by a phone-number-like rest, gets a leading single quote.
func csvSafe(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '@', '\t', '\r':
		return "'" + s
	case '+', '-':
		if strings.Trim(s, "0123456789 .-()+*#") != "" {
			return "'" + s
		}
	}
	return s
}
