package cdr

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Limits of List.
const (
	DefaultLimit = 100     // when Filter.Limit is 0 or negative
	MaxLimit     = 100_000 // larger limits are capped
)

// Filter selects records. Empty fields do not filter.
type Filter struct {
	From        string      // calling number, exact
	To          string      // called number, exact: matches Dialled or FinalNumber
	Since       time.Time   // Start >= Since
	Until       time.Time   // Start < Until
	Disposition Disposition // exact
	Company     string      // exact
	Limit       int         // List only: 0 means DefaultLimit; capped at MaxLimit
}

// where builds the WHERE clause (with ? placeholders) and its arguments.
func (f Filter) where(d *dialect) (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, a ...any) {
		conds = append(conds, cond)
		args = append(args, a...)
	}
	if f.From != "" {
		add("from_number = ?", f.From)
	}
	if f.To != "" {
		add("(dialled = ? OR final_number = ?)", f.To, f.To)
	}
	if !f.Since.IsZero() {
		add("start_time >= ?", d.timeArg(f.Since))
	}
	if !f.Until.IsZero() {
		add("start_time < ?", d.timeArg(f.Until))
	}
	if f.Disposition != "" {
		add("disposition = ?", string(f.Disposition))
	}
	if f.Company != "" {
		add("company = ?", f.Company)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

func (f Filter) limit() int {
	switch {
	case f.Limit <= 0:
		return DefaultLimit
	case f.Limit > MaxLimit:
		return MaxLimit
	}
	return f.Limit
}

// List implements Store.
func (s *sqlStore) List(ctx context.Context, f Filter) ([]Record, error) {
	where, args := f.where(s.d)
	q := "SELECT " + columns + " FROM cdr" + where +
		" ORDER BY start_time DESC, call_id DESC LIMIT ?"
	args = append(args, f.limit())
	rows, err := s.db.QueryContext(ctx, s.d.rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("cdr: list: %w", err)
	}
	defer rows.Close()
	recs := []Record{}
	for rows.Next() {
		var r Record
		if err := scanRecord(rows, &r); err != nil {
			return nil, fmt.Errorf("cdr: list: %w", err)
		}
		recs = append(recs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cdr: list: %w", err)
	}
	return recs, nil
}

// Count implements Store.
func (s *sqlStore) Count(ctx context.Context, f Filter) (int, error) {
	where, args := f.where(s.d)
	var n int
	err := s.db.QueryRowContext(ctx, s.d.rebind("SELECT COUNT(*) FROM cdr"+where), args...).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("cdr: count: %w", err)
	}
	return n, nil
}

// Get implements Store.
func (s *sqlStore) Get(ctx context.Context, callID string) (Record, error) {
	q := s.d.rebind("SELECT " + columns + " FROM cdr WHERE call_id = ?")
	var r Record
	err := scanRecord(s.db.QueryRowContext(ctx, q, callID), &r)
	if errors.Is(err, sql.ErrNoRows) {
		return Record{}, fmt.Errorf("cdr: call %q: %w", callID, ErrNotFound)
	}
	if err != nil {
		return Record{}, fmt.Errorf("cdr: get %q: %w", callID, err)
	}
	return r, nil
}

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func scanRecord(sc scanner, r *Record) error {
	var durationMS int64
	var source, disposition, hangupBy, explanation string
	err := sc.Scan(&r.CallID, &r.Company, &r.CallerType, &r.From, &r.Dialled,
		&r.FinalNumber, &r.DID, &r.Trunk, &r.Rule, &r.Target,
		&source, &r.OffHours, &r.Generation,
		timeCol{&r.Start}, timeCol{&r.Answer}, timeCol{&r.End},
		&durationMS, &r.BillableSeconds, &disposition,
		&r.SIPCode, &hangupBy, &r.HangupCause, &r.AnsweredBy, &r.RecordingPath, &explanation)
	if err != nil {
		return err
	}
	r.Source = Source(source)
	r.Disposition = Disposition(disposition)
	r.HangupBy = Party(hangupBy)
	r.Duration = time.Duration(durationMS) * time.Millisecond
	if explanation != "" {
		r.Explanation = []byte(explanation)
	}
	return nil
}
