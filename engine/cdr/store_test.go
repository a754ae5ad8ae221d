package cdr

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestOpenRejectsBadDSN(t *testing.T) {
	tests := []struct {
		name string
		dsn  string
		want string
	}{
		{name: "unknown scheme", dsn: "mysql://u:secret@h/db", want: "unsupported storage dsn"},
		{name: "empty sqlite path", dsn: "sqlite:", want: "bad sqlite path"},
		{name: "sqlite in memory", dsn: "sqlite::memory:", want: "bad sqlite path"},
		{name: "sqlite with query", dsn: "sqlite:x.db?mode=ro", want: "bad sqlite path"},
		{name: "empty", dsn: "", want: "unsupported storage dsn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(context.Background(), tt.dsn, nil)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded, want error containing %q", tt.dsn, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Open(%q) = %v, want error containing %q", tt.dsn, err, tt.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("error leaks the password: %v", err)
			}
		})
	}
}

func TestOpenSQLiteCreatesDirAndUsesWAL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "cdr.db")
	for _, dsn := range []string{"sqlite:" + path, "sqlite://" + path} {
		s, err := Open(context.Background(), dsn, nil)
		if err != nil {
			t.Fatalf("Open(%q): %v", dsn, err)
		}
		var mode string
		if err := s.(*sqlStore).db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if mode != "wal" {
			t.Errorf("journal_mode = %q, want wal", mode)
		}
		var busy int
		if err := s.(*sqlStore).db.QueryRow("PRAGMA busy_timeout").Scan(&busy); err != nil {
			t.Fatal(err)
		}
		if busy < 1000 {
			t.Errorf("busy_timeout = %d ms, want >= 1000", busy)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database file not created: %v", err)
	}
}

func TestMigrationsIdempotent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t testing.TB) Store) {
		s := open(t).(*sqlStore)
		ctx := context.Background()
		want, err := loadMigrations(migrationFS, s.d)
		if err != nil || len(want) == 0 {
			t.Fatalf("loadMigrations: %v, %d migrations", err, len(want))
		}
		// Applying again, as a second Open or a second node would, changes nothing.
		for range 2 {
			if err := migrate(ctx, s.db, s.d, migrationFS, testLogger(t)); err != nil {
				t.Fatalf("migrate again: %v", err)
			}
		}
		var n, maxV int
		if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*), MAX(version) FROM schema_migrations").Scan(&n, &maxV); err != nil {
			t.Fatal(err)
		}
		if n != len(want) || maxV != want[len(want)-1].version {
			t.Fatalf("schema_migrations has %d rows up to %d, want %d up to %d", n, maxV, len(want), want[len(want)-1].version)
		}
	})
}

func TestParseMigrationName(t *testing.T) {
	tests := []struct {
		file    string
		version int
		wantErr bool
	}{
		{file: "0001_create_cdr.sql", version: 1},
		{file: "0012_add_index.sql", version: 12},
		{file: "create.sql", wantErr: true},
		{file: "0000_zero.sql", wantErr: true},
		{file: "x1_bad.sql", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			m, err := parseMigrationName(tt.file)
			if (err != nil) != tt.wantErr || (!tt.wantErr && m.version != tt.version) {
				t.Fatalf("parseMigrationName(%q) = %d, %v; want %d, err=%v", tt.file, m.version, err, tt.version, tt.wantErr)
			}
		})
	}
}

func TestInsertGetRoundTrip(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t testing.TB) Store) {
		s := open(t)
		ctx := context.Background()
		var recs []Record
		for i := range 10 {
			recs = append(recs, sampleRecord(i))
		}
		n, err := s.Insert(ctx, recs)
		if err != nil || n != len(recs) {
			t.Fatalf("Insert = %d, %v; want %d", n, err, len(recs))
		}
		for _, want := range recs {
			got, err := s.Get(ctx, want.CallID)
			if err != nil {
				t.Fatalf("Get(%q): %v", want.CallID, err)
			}
			if !reflect.DeepEqual(got, normalized(want)) {
				t.Fatalf("Get(%q)\n got %+v\nwant %+v", want.CallID, got, normalized(want))
			}
		}
		// A retried batch (commit outcome unknown) must not duplicate calls.
		n, err = s.Insert(ctx, recs[:3])
		if err != nil || n != 0 {
			t.Fatalf("re-Insert = %d, %v; want 0 new rows", n, err)
		}
		if c, err := s.Count(ctx, Filter{}); err != nil || c != len(recs) {
			t.Fatalf("Count = %d, %v; want %d", c, err, len(recs))
		}
		if _, err := s.Get(ctx, "no-such-call"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get(missing) = %v, want ErrNotFound", err)
		}
	})
}

func TestInsertMakesOddRecordsStorable(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t testing.TB) Store) {
		s := open(t)
		ctx := context.Background()
		odd := sampleRecord(1)
		odd.CallID = "odd-1"
		odd.From = "20\x001"                   // NUL: PostgreSQL rejects it in text
		odd.Dialled = "44\xff\xfe"             // invalid UTF-8
		odd.Explanation = []byte(`{"broken":`) // not JSON: stored verbatim
		odd.SIPCode = 1 << 40                  // does not fit the column
		odd.AnsweredBy = "2\x0003"             // NUL again, in the newest column
		noID := sampleRecord(2)
		noID.CallID = ""
		noStart := sampleRecord(3)
		noStart.CallID = "odd-3"
		noStart.Start = time.Time{}
		if n, err := s.Insert(ctx, []Record{odd, noID, noStart}); err != nil || n != 3 {
			t.Fatalf("Insert = %d, %v; want 3 rows", n, err)
		}
		got, err := s.Get(ctx, "odd-1")
		if err != nil {
			t.Fatal(err)
		}
		if got.From != "201" || got.Dialled != "44\uFFFD" || string(got.Explanation) != `{"broken":` || got.SIPCode != 0 ||
			got.AnsweredBy != "203" {
			t.Fatalf("odd record stored as from=%q dialled=%q explanation=%q sip_code=%d answered_by=%q",
				got.From, got.Dialled, got.Explanation, got.SIPCode, got.AnsweredBy)
		}
		got, err = s.Get(ctx, "odd-3")
		if err != nil {
			t.Fatal(err)
		}
		if !got.Start.Equal(normalized(noStart).Answer) && !got.Start.Equal(normalized(noStart).End) {
			t.Fatalf("record without start stored with start %v, want its answer or end time", got.Start)
		}
		recs, err := s.List(ctx, Filter{From: noID.From, Since: noID.Start, Until: noID.Start.Add(time.Second)})
		if err != nil || len(recs) != 1 || !strings.HasPrefix(recs[0].CallID, "missing-call-id-") {
			t.Fatalf("record without call id: List = %+v, %v", recs, err)
		}
	})
}

func TestListFilters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t testing.TB) Store) {
		s := open(t)
		ctx := context.Background()
		var recs []Record
		for i := range 20 {
			recs = append(recs, sampleRecord(i))
		}
		if _, err := s.Insert(ctx, recs); err != nil {
			t.Fatal(err)
		}
		// ids returns the call ids of recs[i] for the given i, newest first.
		ids := func(is ...int) []string {
			var out []string
			for _, i := range slices.Backward(is) {
				out = append(out, recs[i].CallID)
			}
			return out
		}
		at := func(i int) time.Time { return recs[i].Start }
		tests := []struct {
			name   string
			filter Filter
			want   []string
		}{
			{name: "all newest first", filter: Filter{}, want: ids(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19)},
			{name: "limit", filter: Filter{Limit: 3}, want: ids(17, 18, 19)},
			{name: "from", filter: Filter{From: "203"}, want: ids(3, 13)},
			{name: "to matches dialled", filter: Filter{To: "4405"}, want: ids(5)},
			{name: "to matches final number", filter: Filter{To: "3471230012"}, want: ids(12)},
			{name: "since inclusive", filter: Filter{Since: at(17)}, want: ids(17, 18, 19)},
			{name: "until exclusive", filter: Filter{Until: at(2)}, want: ids(0, 1)},
			{name: "since and until", filter: Filter{Since: at(4), Until: at(7)}, want: ids(4, 5, 6)},
			{name: "disposition", filter: Filter{Disposition: Busy}, want: ids(2, 7, 12, 17)},
			{name: "company", filter: Filter{Company: "globex", Until: at(6)}, want: ids(1, 3, 5)},
			{name: "combined", filter: Filter{Company: "acme", Disposition: Answered, Since: at(1)}, want: ids(10)},
			{name: "no match", filter: Filter{From: "999"}, want: nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := s.List(ctx, tt.filter)
				if err != nil {
					t.Fatal(err)
				}
				var gotIDs []string
				for _, r := range got {
					gotIDs = append(gotIDs, r.CallID)
				}
				if !slices.Equal(gotIDs, tt.want) {
					t.Fatalf("List(%+v) = %v, want %v", tt.filter, gotIDs, tt.want)
				}
				n, err := s.Count(ctx, tt.filter)
				wantCount := len(tt.want)
				if tt.filter.Limit > 0 {
					wantCount = len(recs)
				}
				if err != nil || n != wantCount {
					t.Fatalf("Count(%+v) = %d, %v; want %d", tt.filter, n, err, wantCount)
				}
			})
		}
	})
}

func TestFilterLimit(t *testing.T) {
	tests := []struct{ in, want int }{{0, DefaultLimit}, {-5, DefaultLimit}, {7, 7}, {MaxLimit + 1, MaxLimit}}
	for _, tt := range tests {
		if got := (Filter{Limit: tt.in}).limit(); got != tt.want {
			t.Errorf("Filter{Limit: %d}.limit() = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestRebind(t *testing.T) {
	q := "SELECT a FROM t WHERE b = ? AND (c = ? OR d = ?) LIMIT ?"
	if got := sqliteDialect.rebind(q); got != q {
		t.Errorf("sqlite rebind changed the query: %q", got)
	}
	want := "SELECT a FROM t WHERE b = $1 AND (c = $2 OR d = $3) LIMIT $4"
	if got := postgresDialect.rebind(q); got != want {
		t.Errorf("postgres rebind = %q, want %q", got, want)
	}
}

// TestColumnLists checks that the INSERT/SELECT column list, its count, the
// values appendArgs gives and the CSV header agree, and that a full chunk
// stays under SQLite's 32,766 host parameters.
func TestColumnLists(t *testing.T) {
	cols := strings.Split(columns, ", ")
	if len(cols) != numColumns {
		t.Fatalf("columns lists %d names, numColumns = %d", len(cols), numColumns)
	}
	for _, d := range []*dialect{sqliteDialect, postgresDialect} {
		r := sampleRecord(0)
		if n := len((&sqlStore{d: d}).appendArgs(nil, &r)); n != numColumns {
			t.Errorf("%s: appendArgs gives %d values for %d columns", d.name, n, numColumns)
		}
	}
	if len(CSVHeader) != numColumns {
		t.Errorf("CSV has %d columns, the table %d", len(CSVHeader), numColumns)
	}
	for _, order := range [][2]string{{"hangup_by", "hangup_cause"}, {"hangup_cause", "answered_by"}} {
		if i := slices.Index(cols, order[0]); i < 0 || i+1 >= len(cols) || cols[i+1] != order[1] {
			t.Errorf("column after %s is not %s: %q", order[0], order[1], columns)
		}
		if i := slices.Index(CSVHeader, order[0]); i < 0 || i+1 >= len(CSVHeader) || CSVHeader[i+1] != order[1] {
			t.Errorf("CSV column after %s is not %s: %q", order[0], order[1], CSVHeader)
		}
	}
	if p := insertChunk * numColumns; p > 32766 {
		t.Errorf("a full INSERT has %d parameters, over SQLite's 32,766", p)
	}
}
