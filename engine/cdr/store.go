package cdr

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // registers the "sqlite" database/sql driver
)

// ErrNotFound is returned by Get when no record has the call id.
var ErrNotFound = errors.New("record not found")

// Inserter is what the Writer needs from a Store; tests and callers may fake it.
type Inserter interface {
	// Insert stores recs in one transaction and reports how many rows were
	// new. A record whose call id is already stored is skipped, so retrying
	// a batch whose commit outcome is unknown never duplicates a call.
	Insert(ctx context.Context, recs []Record) (inserted int, err error)
}

// Store is a CDR database.
type Store interface {
	Inserter
	// List returns the records matching f, newest (by Start) first.
	List(ctx context.Context, f Filter) ([]Record, error)
	// Count returns how many records match f, ignoring f.Limit.
	Count(ctx context.Context, f Filter) (int, error)
	// Get returns the record of one call, or an error wrapping ErrNotFound.
	Get(ctx context.Context, callID string) (Record, error)
	// Backend names the database: "sqlite" or "postgres".
	Backend() string
	// Close closes the database; it is safe to call twice.
	Close() error
}

// sqlStore implements Store over database/sql for both backends; the
// differences live in its dialect.
type sqlStore struct {
	db  *sql.DB
	d   *dialect
	log *slog.Logger
	// fullInsert caches the INSERT of a full chunk of rows; fullStmt is it
	// prepared (nil if preparing failed: plain Exec is used then).
	fullInsert string
	fullStmt   *sql.Stmt
}

var _ Store = (*sqlStore)(nil)

// SQLite connection settings: WAL lets the admin API read while the Writer
// writes; busy_timeout makes a second writer (another process, a migration)
// wait instead of failing; _txlock=immediate takes the write lock at BEGIN
// so two write transactions never deadlock upgrading read locks;
// synchronous=NORMAL is durable across process crashes in WAL mode (only an
// OS crash can lose the last commits), and keeps batches cheap.
const sqliteParams = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
	"&_pragma=synchronous(NORMAL)&_txlock=immediate"

// Open opens (creating when needed) the CDR database named by dsn and
// applies pending migrations:
//
//	sqlite:<path>                  e.g. sqlite:var/cdr.db, sqlite:///var/lib/luapbx/cdr.db
//	postgres://user:pw@host/db     or postgresql://...; any pgx DSN parameters
//
// The parent directory of a SQLite file is created.
func Open(ctx context.Context, dsn string, log *slog.Logger) (Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		return openSQLite(ctx, strings.TrimPrefix(dsn, "sqlite:"), log)
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return openPostgres(ctx, dsn, log)
	default:
		return nil, fmt.Errorf("cdr: unsupported storage dsn %q: want sqlite:<path> or postgres://", redact(dsn))
	}
}

func openSQLite(ctx context.Context, path string, log *slog.Logger) (Store, error) {
	if strings.HasPrefix(path, "//") { // sqlite:///abs/path
		path = path[2:]
	}
	if path == "" || strings.ContainsAny(path, "?#") || strings.Contains(path, ":memory:") {
		return nil, fmt.Errorf("cdr: bad sqlite path %q: want a file path without ? or #", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("cdr: create directory for %s: %w", path, err)
	}
	db, err := sql.Open("sqlite", path+"?"+sqliteParams)
	if err != nil {
		return nil, fmt.Errorf("cdr: open sqlite %s: %w", path, err)
	}
	return finishOpen(ctx, db, sqliteDialect, log.With("cdr_backend", "sqlite", "path", path))
}

func openPostgres(ctx context.Context, dsn string, log *slog.Logger) (Store, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("cdr: open postgres %s: %w", redact(dsn), err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(4)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return finishOpen(ctx, db, postgresDialect, log.With("cdr_backend", "postgres", "dsn", redact(dsn)))
}

func finishOpen(ctx context.Context, db *sql.DB, d *dialect, log *slog.Logger) (Store, error) {
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("cdr: connect %s: %w", d.name, err)
	}
	if err := migrate(ctx, db, d, migrationFS, log); err != nil {
		db.Close()
		return nil, err
	}
	s := &sqlStore{db: db, d: d, log: log}
	s.fullInsert = s.insertSQL(insertChunk)
	if st, err := db.PrepareContext(ctx, s.fullInsert); err == nil {
		s.fullStmt = st
	} else {
		log.Warn("cdr insert statement not prepared; using plain statements", "err", err)
	}
	return s, nil
}

// Backend implements Store.
func (s *sqlStore) Backend() string { return s.d.name }

// Close implements Store; database/sql makes a second Close harmless.
func (s *sqlStore) Close() error {
	if s.fullStmt != nil {
		s.fullStmt.Close()
	}
	return s.db.Close()
}

// redact hides a password in a URL-shaped DSN so it can be logged.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		if strings.Contains(dsn, "@") {
			return "<dsn with credentials>"
		}
		return dsn
	}
	return u.Redacted()
}
