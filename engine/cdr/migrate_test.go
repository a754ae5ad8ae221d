package cdr

import (
	"context"
	"database/sql"
	"io/fs"
	"maps"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// withMigrations is the embedded migrations of d plus more files, given as
// name, SQL pairs.
func withMigrations(t *testing.T, d *dialect, extra ...string) fs.FS {
	t.Helper()
	m := fstest.MapFS{}
	entries, err := fs.ReadDir(migrationFS, d.migrationsDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		body, err := fs.ReadFile(migrationFS, path.Join(d.migrationsDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[path.Join(d.migrationsDir, e.Name())] = &fstest.MapFile{Data: body}
	}
	for i := 0; i+1 < len(extra); i += 2 {
		m[path.Join(d.migrationsDir, extra[i])] = &fstest.MapFile{Data: []byte(extra[i+1])}
	}
	return m
}

// TestMigrationUpgrade applies a new migration to a database created by
// an older schema, and checks that a failing one changes nothing.
func TestMigrationUpgrade(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t testing.TB) Store) {
		s := open(t).(*sqlStore)
		ctx := context.Background()
		if _, err := s.Insert(ctx, []Record{sampleRecord(1)}); err != nil {
			t.Fatal(err)
		}
		const addNote = "ALTER TABLE cdr ADD COLUMN note TEXT NOT NULL DEFAULT 'none';"
		v2 := withMigrations(t, s.d, "9001_add_note.sql", addNote)
		for range 2 { // the second run finds nothing to do
			if err := migrate(ctx, s.db, s.d, v2, testLogger(t)); err != nil {
				t.Fatalf("upgrade: %v", err)
			}
		}
		var note string
		if err := s.db.QueryRowContext(ctx, "SELECT note FROM cdr").Scan(&note); err != nil || note != "none" {
			t.Fatalf("new column: %q, %v", note, err)
		}
		v3 := withMigrations(t, s.d, "9001_add_note.sql", addNote,
			"9002_broken.sql", "CREATE TABLE half_done (x INTEGER); THIS IS NOT SQL;")
		err := migrate(ctx, s.db, s.d, v3, testLogger(t))
		if err == nil || !strings.Contains(err.Error(), "9002_broken") {
			t.Fatalf("broken migration: err = %v, want one naming 9002_broken", err)
		}
		var n int
		if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations WHERE version >= 9000").Scan(&n); err != nil || n != 1 {
			t.Fatalf("after a failed migration schema_migrations has %d new versions (%v), want 1", n, err)
		}
		if _, err := s.db.ExecContext(ctx, "SELECT x FROM half_done"); err == nil {
			t.Fatal("a failed migration left its first statement applied")
		}
		// The store still works.
		if _, err := s.Insert(ctx, []Record{sampleRecord(2)}); err != nil {
			t.Fatalf("insert after failed migration: %v", err)
		}
	})
}

// migrationsUpTo is the embedded migrations of d up to version maxV: the
// schema an older binary created.
func migrationsUpTo(t *testing.T, d *dialect, maxV int) fs.FS {
	t.Helper()
	m := fstest.MapFS{}
	entries, err := fs.ReadDir(migrationFS, d.migrationsDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		mig, err := parseMigrationName(e.Name())
		if err != nil {
			t.Fatal(err)
		}
		if mig.version > maxV {
			continue
		}
		body, err := fs.ReadFile(migrationFS, path.Join(d.migrationsDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[path.Join(d.migrationsDir, e.Name())] = &fstest.MapFile{Data: body}
	}
	return m
}

// newEmptyDatabase returns the DSN of a database without any table, and a
// raw connection to it with its dialect.
func newEmptyDatabase(t *testing.T, backend string) (string, *sql.DB, *dialect) {
	t.Helper()
	var dsn string
	var db *sql.DB
	var d *dialect
	var err error
	switch backend {
	case "sqlite":
		p := filepath.Join(t.TempDir(), "cdr.db")
		dsn, d = "sqlite:"+p, sqliteDialect
		db, err = sql.Open("sqlite", p+"?"+sqliteParams)
	case "postgres":
		dsn, d = newTestPostgresSchema(t), postgresDialect
		db, err = sql.Open("pgx", dsn)
	default:
		t.Fatalf("unknown backend %q", backend)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return dsn, db, d
}

// v2Columns are the columns migrations 0002 (hangup_cause) and 0003
// (answered_by) added: a binary from before them does not know them.
var v2Columns = []string{"hangup_cause", "answered_by"}

// insertAsV1 stores r the way a binary from before migration 0002 did: the
// same INSERT without the hangup_cause and answered_by columns.
func insertAsV1(t *testing.T, db *sql.DB, d *dialect, r Record) {
	t.Helper()
	cols := strings.Split(columns, ", ")
	args := (&sqlStore{d: d}).appendArgs(nil, &r)
	if len(cols) != numColumns || len(args) != numColumns {
		t.Fatalf("columns %q: %d columns, %d values, want %d", columns, len(cols), len(args), numColumns)
	}
	for _, name := range v2Columns {
		i := slices.Index(cols, name)
		if i < 0 {
			t.Fatalf("columns %q: no %s", columns, name)
		}
		args = slices.Delete(args, i, i+1)
		cols = slices.Delete(cols, i, i+1)
	}
	q := "INSERT INTO cdr (" + strings.Join(cols, ", ") + ") VALUES (?" +
		strings.Repeat(", ?", len(cols)-1) + ")"
	if _, err := db.ExecContext(context.Background(), d.rebind(q), args...); err != nil {
		t.Fatalf("insert as schema v1: %v", err)
	}
}

// TestMigrationsHangupCauseAnsweredBy opens, with this binary, a
// database that a binary from before the hangup_cause and answered_by
// columns created and filled: Open adds both columns, the old rows read
// back with an empty cause and nobody answering, new rows keep theirs, and
// an old node still writing (rolling upgrade) keeps working.
func TestMigrationsHangupCauseAnsweredBy(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			dsn, db, d := newEmptyDatabase(t, b.name)
			if err := migrate(ctx, db, d, migrationsUpTo(t, d, 1), testLogger(t)); err != nil {
				t.Fatalf("create schema v1: %v", err)
			}
			old := sampleRecord(0) // answered, cause "normal", by p1: the old INSERT drops both
			if old.HangupCause == "" || old.AnsweredBy == "" {
				t.Fatal("sample record has no cause or no answerer: the test would prove nothing")
			}
			insertAsV1(t, db, d, old)
			old.HangupCause, old.AnsweredBy = "", ""
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}

			st, err := Open(ctx, dsn, testLogger(t))
			if err != nil {
				t.Fatalf("open a v1 database: %v", err)
			}
			t.Cleanup(func() { st.Close() })
			s := st.(*sqlStore)
			var applied int
			if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations WHERE version IN (2, 3)").Scan(&applied); err != nil || applied != 2 {
				t.Fatalf("migrations 0002 and 0003 recorded %d times (%v), want 2", applied, err)
			}

			fresh := sampleRecord(5) // answered, cause "rtp_timeout", by p1
			fresh.HangupCause, fresh.AnsweredBy = "media_failed", "203"
			if n, err := s.Insert(ctx, []Record{fresh}); err != nil || n != 1 {
				t.Fatalf("Insert after migration = %d, %v; want 1", n, err)
			}
			lateOld := sampleRecord(10) // answered, by p1: an old node writing after the upgrade
			insertAsV1(t, s.db, d, lateOld)
			lateOld.HangupCause, lateOld.AnsweredBy = "", ""

			for _, want := range []Record{old, fresh, lateOld} {
				got, err := s.Get(ctx, want.CallID)
				if err != nil {
					t.Fatalf("Get(%q): %v", want.CallID, err)
				}
				if !reflect.DeepEqual(got, normalized(want)) {
					t.Fatalf("Get(%q)\n got %+v\nwant %+v", want.CallID, got, normalized(want))
				}
			}
			recs, err := s.List(ctx, Filter{})
			if err != nil || len(recs) != 3 {
				t.Fatalf("List = %d records, %v; want 3", len(recs), err)
			}
			causes, answerers := map[string]string{}, map[string]string{}
			for _, r := range recs {
				causes[r.CallID], answerers[r.CallID] = r.HangupCause, r.AnsweredBy
			}
			want := map[string]string{old.CallID: "", fresh.CallID: "media_failed", lateOld.CallID: ""}
			if !maps.Equal(causes, want) {
				t.Fatalf("List causes = %v, want %v", causes, want)
			}
			want = map[string]string{old.CallID: "", fresh.CallID: "203", lateOld.CallID: ""}
			if !maps.Equal(answerers, want) {
				t.Fatalf("List answered_by = %v, want %v", answerers, want)
			}
		})
	}
}
