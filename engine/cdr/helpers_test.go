package cdr

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// backend opens a fresh, empty store of one kind for a test.
type backend struct {
	name string
	open func(t testing.TB) Store
}

// backends lists SQLite always, and PostgreSQL when LUAPBX_TEST_POSTGRES is
// set. Without it the PostgreSQL subtests skip, or fail when CI=true.
func backends() []backend {
	return []backend{
		{name: "sqlite", open: openTestSQLite},
		{name: "postgres", open: openTestPostgres},
	}
}

// forEachBackend runs fn as one subtest per backend.
func forEachBackend(t *testing.T, fn func(t *testing.T, open func(t testing.TB) Store)) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) { fn(t, b.open) })
	}
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

func openTestSQLite(t testing.TB) Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nested", "dir", "cdr.db")
	s, err := Open(context.Background(), "sqlite:"+path, testLogger(t))
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// postgresDSN returns the test server's DSN, or skips (fails under CI).
func postgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("LUAPBX_TEST_POSTGRES")
	if dsn != "" {
		return dsn
	}
	const why = "LUAPBX_TEST_POSTGRES is not set: PostgreSQL backend NOT tested " +
		"(start one with: eval \"$(.ci/postgres.sh)\")"
	if os.Getenv("CI") == "true" {
		t.Fatal(why + "; CI=true requires it")
	}
	t.Skip(why)
	return ""
}

// openTestPostgres opens the test server inside a new schema of its own,
// dropped at cleanup, so every test starts empty and runs the migrations.
func openTestPostgres(t testing.TB) Store {
	t.Helper()
	s, err := Open(context.Background(), newTestPostgresSchema(t), testLogger(t))
	if err != nil {
		t.Fatalf("open postgres store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newTestPostgresSchema creates an empty schema on the test server, dropped
// at cleanup, and returns a DSN whose search_path is that schema.
func newTestPostgresSchema(t testing.TB) string {
	t.Helper()
	dsn := postgresDSN(t)
	ctx := context.Background()
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	t.Cleanup(func() { admin.Close() })
	var rnd [6]byte
	rand.Read(rnd[:])
	schema := "cdrtest_" + hex.EncodeToString(rnd[:])
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() { admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE") })
	return withSearchPath(t, dsn, schema)
}

func withSearchPath(t testing.TB, dsn, schema string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("LUAPBX_TEST_POSTGRES must be a URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

var baseTime = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// sampleRecord is a fully populated record; i varies every field.
func sampleRecord(i int) Record {
	start := baseTime.Add(time.Duration(i) * time.Minute).Add(123456 * time.Microsecond)
	disp := Dispositions[i%len(Dispositions)]
	r := Record{
		CallID:      fmt.Sprintf("call-%06d@127.0.0.1", i),
		Company:     []string{"acme", "globex"}[i%2],
		CallerType:  []string{"internal", "external"}[i%2],
		From:        fmt.Sprintf("20%d", i%10),
		Dialled:     fmt.Sprintf("44%02d", i%100),
		FinalNumber: fmt.Sprintf("347123%04d", i),
		DID:         "0733811720",
		Trunk:       "p1",
		Rule:        "mobiles",
		Target:      "gateway:p1",
		Source:      []Source{SourceBuiltin, SourceLua}[i%2],
		OffHours:    "",
		Generation:  int64(7 + i),
		Start:       start,
		End:         start.Add(30 * time.Second),
		Duration:    30*time.Second + 250*time.Millisecond,
		Disposition: disp,
		SIPCode:     map[Disposition]int{Answered: 200, NoAnswer: 487, Busy: 486, Failed: 503, Rejected: 403}[disp],
		HangupBy:    []Party{Caller, Callee, System}[i%3],
		HangupCause: map[Disposition]string{Answered: []string{"normal", "rtp_timeout"}[i/5%2],
			NoAnswer: "cancel", Busy: "busy", Failed: "media_failed", Rejected: "rejected"}[disp],
		Explanation: []byte(fmt.Sprintf(`{"rule":"mobiles","generation":%d,"candidates":[{"rule":"mobiles","score":[1,0,0]}]}`, 7+i)),
	}
	if disp == Answered {
		r.Answer = start.Add(5 * time.Second)
		r.BillableSeconds = 25
		r.RecordingPath = fmt.Sprintf("var/recordings/%s.wav", r.CallID)
		r.AnsweredBy = r.Trunk // the gateway's trunk answered
	}
	if i%4 == 3 {
		r.OffHours = "night"
	}
	return r
}

// normalized is r as the store gives it back: UTC, microsecond times and a
// millisecond duration.
func normalized(r Record) Record {
	norm := func(t time.Time) time.Time {
		if t.IsZero() {
			return t
		}
		return t.Truncate(time.Microsecond).UTC()
	}
	r.Start, r.Answer, r.End = norm(r.Start), norm(r.Answer), norm(r.End)
	r.Duration = r.Duration.Truncate(time.Millisecond)
	if len(r.Explanation) == 0 {
		r.Explanation = nil
	}
	return r
}
