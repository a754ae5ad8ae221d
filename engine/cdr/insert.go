package cdr

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// columns is the column order of every INSERT and SELECT.
const columns = "call_id, company, caller_type, from_number, dialled, final_number, did, " +
	"trunk, rule, target, source, offhours, generation, start_time, answer_time, end_time, " +
	"duration_ms, billable_seconds, disposition, sip_code, hangup_by, hangup_cause, " +
	"answered_by, recording_path, explanation"

const numColumns = 25

// insertChunk is the number of rows per INSERT statement: 200 x 25 = 5,000
// parameters, well under SQLite's 32,766 (SQLITE_MAX_VARIABLE_NUMBER since
// 3.32) and PostgreSQL's 65,535.
const insertChunk = 200

// missingIDs numbers records that arrive without a call id.
var missingIDs atomic.Uint64

// Insert implements Inserter: all recs in one transaction, as multi-row
// INSERTs that skip call ids already stored.
func (s *sqlStore) Insert(ctx context.Context, recs []Record) (int, error) {
	if len(recs) == 0 {
		return 0, nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("cdr: begin insert: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
	args := make([]any, 0, min(len(recs), insertChunk)*numColumns)
	total := 0
	for start := 0; start < len(recs); start += insertChunk {
		part := recs[start:min(start+insertChunk, len(recs))]
		args = args[:0]
		for i := range part {
			args = s.appendArgs(args, &part[i])
		}
		res, err := s.execInsert(ctx, tx, len(part), args)
		if err != nil {
			return 0, fmt.Errorf("cdr: insert %d rows: %w", len(part), err)
		}
		if n, err := res.RowsAffected(); err == nil {
			total += int(n)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("cdr: commit %d rows: %w", len(recs), err)
	}
	return total, nil
}

// execInsert runs the INSERT of n rows, through the prepared statement for
// full chunks (parsing a 5,000-parameter statement costs ~15% of an insert).
func (s *sqlStore) execInsert(ctx context.Context, tx *sql.Tx, n int, args []any) (sql.Result, error) {
	if n == insertChunk && s.fullStmt != nil {
		return tx.StmtContext(ctx, s.fullStmt).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, s.insertSQL(n), args...)
}

// insertSQL builds the INSERT for n rows.
func (s *sqlStore) insertSQL(n int) string {
	if n == insertChunk && s.fullInsert != "" {
		return s.fullInsert
	}
	row := "(" + strings.Repeat("?, ", numColumns-1) + "?)"
	var b strings.Builder
	b.Grow(64 + len(columns) + n*(len(row)+2))
	b.WriteString("INSERT INTO cdr (")
	b.WriteString(columns)
	b.WriteString(") VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	b.WriteString(" ON CONFLICT (call_id) DO NOTHING")
	return s.d.rebind(b.String())
}

// appendArgs appends r's column values, made storable: text is valid UTF-8
// without NUL (PostgreSQL rejects both), a record always has a call id and a
// start time (NOT NULL columns), and the SIP code fits a 32-bit column. A
// record that cannot be stored would otherwise be retried forever.
func (s *sqlStore) appendArgs(args []any, r *Record) []any {
	d := s.d
	start := r.Start
	if start.IsZero() {
		start = firstNonZero(r.Answer, r.End, time.Now())
	}
	callID := clean(r.CallID)
	if callID == "" {
		callID = "missing-call-id-" + strconv.FormatUint(missingIDs.Add(1), 10) + "-" +
			strconv.FormatInt(start.UnixMicro(), 10)
	}
	code := r.SIPCode
	if code < 0 || code > 999 {
		code = 0
	}
	return append(args,
		callID, clean(r.Company), clean(r.CallerType), clean(r.From), clean(r.Dialled),
		clean(r.FinalNumber), clean(r.DID), clean(r.Trunk), clean(r.Rule), clean(r.Target),
		clean(string(r.Source)), clean(r.OffHours), r.Generation,
		d.timeArg(start), d.timeArg(r.Answer), d.timeArg(r.End),
		r.Duration.Milliseconds(), r.BillableSeconds, clean(string(r.Disposition)),
		code, clean(string(r.HangupBy)), clean(r.HangupCause), clean(r.AnsweredBy),
		clean(r.RecordingPath), clean(string(r.Explanation)),
	)
}

func firstNonZero(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

// clean returns s as valid UTF-8 without NUL bytes, allocating only when s
// needs a change.
func clean(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}
