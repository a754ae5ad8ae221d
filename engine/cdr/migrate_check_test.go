package cdr

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"
)

// oldMigrationsTable is schema_migrations as binaries before checksums
// made it.
const oldMigrationsTable = `CREATE TABLE schema_migrations (
    version    INTEGER NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at TEXT    NOT NULL
)`

// migrationRows reads schema_migrations: version -> name, checksum.
func migrationRows(t *testing.T, db *sql.DB) map[int]appliedMigration {
	t.Helper()
	rows, err := db.Query("SELECT version, name, checksum FROM schema_migrations")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int]appliedMigration{}
	for rows.Next() {
		var v int
		var name, sum sql.NullString
		if err := rows.Scan(&v, &name, &sum); err != nil {
			t.Fatal(err)
		}
		out[v] = appliedMigration{name: name.String, checksum: sum.String}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// wantAllRecorded fails unless every migration of this binary is in rows
// with its name and checksum.
func wantAllRecorded(t *testing.T, d *dialect, rows map[int]appliedMigration) {
	t.Helper()
	ms, err := loadMigrations(migrationFS, d)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(ms) {
		t.Errorf("schema_migrations has %d rows, want %d", len(rows), len(ms))
	}
	for _, m := range ms {
		got := rows[m.version]
		if got.name != m.name || got.checksum != m.checksum || len(got.checksum) != 64 {
			t.Errorf("migration %d recorded as %q %q, want %q %q", m.version, got.name, got.checksum, m.name, m.checksum)
		}
	}
}

// TestMigrationChecksumsFreshDatabase: a new database records each
// migration's name and checksum, and opens again.
func TestMigrationChecksumsFreshDatabase(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			dsn, db, d := newEmptyDatabase(t, b.name)
			for i := range 2 { // the second start checks what the first recorded
				s, err := Open(context.Background(), dsn, testLogger(t))
				if err != nil {
					t.Fatalf("open #%d: %v", i+1, err)
				}
				s.Close()
			}
			wantAllRecorded(t, d, migrationRows(t, db))
		})
	}
}

// TestMigrationChecksumsOldDatabase: a database an older binary migrated
// (no checksum column; a row without a name) opens, gets the missing
// migrations, and has every name and checksum recorded.
func TestMigrationChecksumsOldDatabase(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			dsn, db, d := newEmptyDatabase(t, b.name)
			ms, err := loadMigrations(migrationsUpTo(t, d, 2), d)
			if err != nil || len(ms) != 2 {
				t.Fatalf("migrations up to 2: %d, %v", len(ms), err)
			}
			if _, err := db.ExecContext(ctx, oldMigrationsTable); err != nil {
				t.Fatal(err)
			}
			names := map[int]string{1: ms[0].name, 2: ""} // 0002 recorded without a name
			for _, m := range ms {
				if _, err := db.ExecContext(ctx, m.sql); err != nil {
					t.Fatalf("migration %d: %v", m.version, err)
				}
				q := d.rebind("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)")
				if _, err := db.ExecContext(ctx, q, m.version, names[m.version], time.Now().UTC().Format(time.RFC3339)); err != nil {
					t.Fatal(err)
				}
			}
			s, err := Open(ctx, dsn, testLogger(t))
			if err != nil {
				t.Fatalf("open a database without checksums: %v", err)
			}
			if _, err := s.Insert(ctx, []Record{sampleRecord(1)}); err != nil {
				t.Fatalf("insert: %v", err) // 0003's answered_by column is there
			}
			s.Close()
			wantAllRecorded(t, d, migrationRows(t, db))
		})
	}
}

// TestMigrationMismatchRefused: a database whose migration 0002 was
// applied under another name, or with other SQL, is refused with an error
// that names both and says what to do, and nothing is applied.
func TestMigrationMismatchRefused(t *testing.T) {
	cases := []struct {
		name, update string
		want         []string
	}{
		{"name", "UPDATE schema_migrations SET name = 'add_caller_name' WHERE version = 2",
			[]string{`cdr database: migration 0002 applied as "add_caller_name" but this binary has "add_hangup_cause";`,
				"point storage.cdr at a new database"}},
		{"checksum", "UPDATE schema_migrations SET checksum = 'deadbeefdeadbeefdeadbeef' WHERE version = 2",
			[]string{`cdr database: migration 0002 "add_hangup_cause" applied with other SQL (checksum deadbeefdead)`,
				"run the build that migrated it"}},
	}
	for _, b := range backends() {
		for _, tc := range cases {
			t.Run(b.name+"/"+tc.name, func(t *testing.T) {
				ctx := context.Background()
				dsn, db, d := newEmptyDatabase(t, b.name)
				s, err := Open(ctx, dsn, testLogger(t))
				if err != nil {
					t.Fatal(err)
				}
				s.Close()
				if _, err := db.ExecContext(ctx, tc.update); err != nil {
					t.Fatal(err)
				}
				if s, err := Open(ctx, dsn, testLogger(t)); err == nil {
					s.Close()
					t.Fatal("a database with a mismatched migration 0002 opened")
				} else {
					for _, w := range tc.want {
						if !strings.Contains(err.Error(), w) {
							t.Errorf("error %q\nwant it to contain %q", err, w)
						}
					}
				}
				// A pending migration is not applied to a refused database.
				next := withMigrations(t, d, "9001_add_note.sql", "ALTER TABLE cdr ADD COLUMN note TEXT;")
				if err := migrate(ctx, db, d, next, testLogger(t)); err == nil {
					t.Fatal("migrate went on after a mismatch")
				}
				if _, ok := migrationRows(t, db)[9001]; ok {
					t.Error("migration 9001 applied to a refused database")
				}
			})
		}
	}
}

func TestMigrationChecksum(t *testing.T) {
	const base = "-- Adds a column.\nALTER TABLE cdr ADD COLUMN x TEXT NOT NULL DEFAULT '';\n"
	cases := []struct {
		name, sql string
		same      bool
	}{
		{"identical", base, true},
		{"comment reworded", "-- Adds the x column, see #12.\nALTER TABLE cdr ADD COLUMN x TEXT NOT NULL DEFAULT '';\n", true},
		{"re-indented", "ALTER TABLE cdr\n    ADD COLUMN x TEXT   NOT NULL DEFAULT '';  -- trailing\n", true},
		{"other default", "-- Adds a column.\nALTER TABLE cdr ADD COLUMN x TEXT NOT NULL DEFAULT 'none';\n", false},
		{"other column", "-- Adds a column.\nALTER TABLE cdr ADD COLUMN y TEXT NOT NULL DEFAULT '';\n", false},
		{"empty", "", false},
	}
	want := migrationChecksum(base)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := migrationChecksum(tc.sql); (got == want) != tc.same {
				t.Errorf("checksum %s vs %s: same = %v, want %v", got, want, got == want, tc.same)
			}
		})
	}
}
