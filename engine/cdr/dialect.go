package cdr

import (
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// dialect holds what differs between SQLite and PostgreSQL. Queries are
// written once with ? placeholders and rebound for PostgreSQL.
type dialect struct {
	name string
	// migrationsDir is the folder of embedded *.sql migrations.
	migrationsDir string
	// lockMigrations, when set, runs first in the migration transaction so
	// that nodes starting together apply migrations one at a time. SQLite
	// needs none: _txlock=immediate already serializes write transactions.
	lockMigrations string
	// dollarParams selects $1, $2, ... instead of ?.
	dollarParams bool
	// timeAsMicros stores times as INTEGER microseconds since the epoch.
	timeAsMicros bool
	// columnExists counts the columns named by its second parameter in
	// the table named by its first (0 or 1).
	columnExists string
}

var sqliteDialect = &dialect{
	name:          "sqlite",
	migrationsDir: "migrations/sqlite",
	timeAsMicros:  true,
	columnExists:  "SELECT COUNT(*) FROM pragma_table_info(?) WHERE name = ?",
}

var postgresDialect = &dialect{
	name:          "postgres",
	migrationsDir: "migrations/postgres",
	// An arbitrary constant key: "luapbx cdr" as ASCII, truncated to int64.
	lockMigrations: "SELECT pg_advisory_xact_lock(7811230401)",
	dollarParams:   true,
	columnExists: "SELECT COUNT(*) FROM information_schema.columns " +
		"WHERE table_schema = current_schema() AND table_name = ? AND column_name = ?",
}

// rebind turns ? placeholders into $n for PostgreSQL. Our SQL has no ?
// inside string literals.
func (d *dialect) rebind(q string) string {
	if !d.dollarParams {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + len(q)/4)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] != '?' {
			b.WriteByte(q[i])
			continue
		}
		n++
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(n))
	}
	return b.String()
}

// timeArg converts a time for the database: NULL for the zero time.
func (d *dialect) timeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	if d.timeAsMicros {
		return t.UnixMicro()
	}
	return t.Truncate(time.Microsecond).UTC()
}

// timeCol scans a time column of either backend into a UTC time.Time,
// leaving the zero time for NULL.
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.t = time.Time{}
	case int64:
		*c.t = time.UnixMicro(v).UTC()
	case time.Time:
		*c.t = v.UTC()
	default:
		return fmt.Errorf("cdr: cannot scan %T into a time", src)
	}
	return nil
}

var _ sql.Scanner = timeCol{}
