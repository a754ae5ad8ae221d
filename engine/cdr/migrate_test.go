package cdr

import (
	"context"
	"io/fs"
	"path"
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
