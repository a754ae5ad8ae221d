package cdr

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
)

// appliedMigration is a row of schema_migrations.
type appliedMigration struct {
	name     string // "" never written by luapbx, but tolerated (recorded then)
	checksum string // "" when an older binary applied it (recorded then)
}

// migrationChecksum is the SHA-256 (hex) of a migration's SQL with its
// "--" comments and runs of white space left out, so that rewording a
// comment or re-indenting a released migration does not lock every
// database out, while any change to its statements does.
func migrationChecksum(sqlText string) string {
	var b strings.Builder
	for line := range strings.SplitSeq(sqlText, "\n") {
		if i := strings.Index(line, "--"); i >= 0 {
			line = line[:i]
		}
		for f := range strings.FieldsSeq(line) {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(f)
		}
	}
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}

// addChecksumColumn gives a schema_migrations table an older binary made
// its checksum column (NULL in the rows it has).
func addChecksumColumn(ctx context.Context, tx *sql.Tx, d *dialect) error {
	var n int
	if err := tx.QueryRowContext(ctx, d.rebind(d.columnExists), "schema_migrations", "checksum").Scan(&n); err != nil {
		return fmt.Errorf("cdr: read schema_migrations columns: %w", err)
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, "ALTER TABLE schema_migrations ADD COLUMN checksum TEXT"); err != nil {
		return fmt.Errorf("cdr: add schema_migrations.checksum: %w", err)
	}
	return nil
}

// appliedMigrations reads schema_migrations by version.
func appliedMigrations(ctx context.Context, tx *sql.Tx) (map[int]appliedMigration, error) {
	rows, err := tx.QueryContext(ctx, "SELECT version, name, checksum FROM schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("cdr: read schema_migrations: %w", err)
	}
	defer rows.Close()
	applied := map[int]appliedMigration{}
	for rows.Next() {
		var v int
		var name, sum sql.NullString
		if err := rows.Scan(&v, &name, &sum); err != nil {
			return nil, fmt.Errorf("cdr: read schema_migrations: %w", err)
		}
		applied[v] = appliedMigration{name: name.String, checksum: sum.String}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cdr: read schema_migrations: %w", err)
	}
	return applied, nil
}

// mismatchAdvice ends the error of a migration applied differently.
const mismatchAdvice = "the database was migrated by another build of luapbx " +
	"(a development version, or a fork) and its schema may not be the one this binary expects: " +
	"run the build that migrated it, or point storage.cdr at a new database " +
	"(keep this one to read its records); released migrations are never edited"

// checkApplied refuses a database whose applied migrations differ from
// this binary's of the same version: another name, or (when the row has
// one) another checksum. Rows an older binary wrote without a checksum
// (or without a name) get this binary's, once their name matches: they
// are trusted as they are, and checked from then on.
func checkApplied(ctx context.Context, tx *sql.Tx, d *dialect, applied map[int]appliedMigration,
	ms []migration, log *slog.Logger) error {
	recorded := 0
	for _, m := range ms {
		a, ok := applied[m.version]
		if !ok {
			continue
		}
		if a.name != "" && a.name != m.name {
			return fmt.Errorf("cdr database: migration %04d applied as %q but this binary has %q; %s",
				m.version, a.name, m.name, mismatchAdvice)
		}
		if a.checksum != "" && a.checksum != m.checksum {
			return fmt.Errorf("cdr database: migration %04d %q applied with other SQL (checksum %.12s) "+
				"than this binary's (checksum %.12s); %s", m.version, m.name, a.checksum, m.checksum, mismatchAdvice)
		}
		if a.name != "" && a.checksum != "" {
			continue
		}
		q := d.rebind("UPDATE schema_migrations SET name = ?, checksum = ? WHERE version = ?")
		if _, err := tx.ExecContext(ctx, q, m.name, m.checksum, m.version); err != nil {
			return fmt.Errorf("cdr: record migration %d checksum: %w", m.version, err)
		}
		recorded++
	}
	if recorded > 0 {
		log.Info("cdr migrations applied by an older binary: their names and checksums recorded", "migrations", recorded)
	}
	return nil
}
