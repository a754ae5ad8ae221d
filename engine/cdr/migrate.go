package cdr

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations
var migrationFS embed.FS

// migration is one embedded NNNN_name.sql file.
type migration struct {
	version  int
	name     string
	sql      string
	checksum string // of sql, see migrationChecksum
}

// createMigrationsTable makes the table of applied migrations: each one's
// version, name and checksum (NULL in rows an older binary wrote; see
// checkApplied).
const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at TEXT    NOT NULL,
    checksum   TEXT
)`

// loadMigrations reads the dialect's migrations from fsys, sorted by version.
func loadMigrations(fsys fs.FS, d *dialect) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, d.migrationsDir)
	if err != nil {
		return nil, fmt.Errorf("cdr: read migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		m, err := parseMigrationName(e.Name())
		if err != nil {
			return nil, err
		}
		body, err := fs.ReadFile(fsys, path.Join(d.migrationsDir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("cdr: read migration %s: %w", e.Name(), err)
		}
		m.sql = string(body)
		m.checksum = migrationChecksum(m.sql)
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("cdr: duplicate migration version %d", ms[i].version)
		}
	}
	return ms, nil
}

func parseMigrationName(file string) (migration, error) {
	base := strings.TrimSuffix(file, ".sql")
	num, name, ok := strings.Cut(base, "_")
	v, err := strconv.Atoi(num)
	if !ok || err != nil || v <= 0 {
		return migration{}, fmt.Errorf("cdr: bad migration file name %q: want NNNN_name.sql", file)
	}
	return migration{version: v, name: name}, nil
}

// migrate applies the pending migrations in one transaction, so a failed
// migration leaves the schema as it was, and concurrent starts (several
// nodes on one PostgreSQL) apply them once. It first checks that the
// migrations the database already has are this binary's (same name and
// SQL), and refuses to go on when one is not (checkApplied).
func migrate(ctx context.Context, db *sql.DB, d *dialect, fsys fs.FS, log *slog.Logger) error {
	ms, err := loadMigrations(fsys, d)
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("cdr: begin migration: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
	if d.lockMigrations != "" {
		if _, err := tx.ExecContext(ctx, d.lockMigrations); err != nil {
			return fmt.Errorf("cdr: lock migrations: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, createMigrationsTable); err != nil {
		return fmt.Errorf("cdr: create schema_migrations: %w", err)
	}
	if err := addChecksumColumn(ctx, tx, d); err != nil {
		return err
	}
	applied, err := appliedMigrations(ctx, tx)
	if err != nil {
		return err
	}
	if err := checkApplied(ctx, tx, d, applied, ms, log); err != nil {
		return err
	}
	n := 0
	for _, m := range ms {
		if _, ok := applied[m.version]; ok {
			continue
		}
		if err := applyMigration(ctx, tx, d, m); err != nil {
			return err
		}
		log.Info("cdr migration applied", "version", m.version, "name", m.name)
		n++
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("cdr: commit migrations: %w", err)
	}
	warnNewerSchema(applied, ms, log)
	log.Debug("cdr schema ready", "applied_now", n, "schema_version", len(ms))
	return nil
}

func applyMigration(ctx context.Context, tx *sql.Tx, d *dialect, m migration) error {
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("cdr: migration %d_%s: %w", m.version, m.name, err)
	}
	q := d.rebind("INSERT INTO schema_migrations (version, name, applied_at, checksum) VALUES (?, ?, ?, ?)")
	at := time.Now().UTC().Format(time.RFC3339)
	if _, err := tx.ExecContext(ctx, q, m.version, m.name, at, m.checksum); err != nil {
		return fmt.Errorf("cdr: record migration %d: %w", m.version, err)
	}
	return nil
}

// warnNewerSchema logs when the database has migrations this binary does not
// know: a newer node migrated it during a rolling upgrade. Migrations are
// meant to be additive, so this binary keeps working; it only warns.
func warnNewerSchema(applied map[int]appliedMigration, ms []migration, log *slog.Logger) {
	known := map[int]bool{}
	for _, m := range ms {
		known[m.version] = true
	}
	for v := range applied {
		if !known[v] {
			log.Warn("cdr schema has a migration this binary does not know", "version", v)
		}
	}
}
