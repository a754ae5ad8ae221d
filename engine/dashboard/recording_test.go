package dashboard

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"luapbx/engine/cdr"
)

// recordingSetup makes <dir>/recordings with a WAV inside, a secret file
// and a look-alike "recordings-old" directory beside it, and a symbolic
// link inside the root that points at the secret.
func recordingSetup(t *testing.T) (root string, wav []byte, records fakeRecords) {
	t.Helper()
	dir := t.TempDir()
	root = filepath.Join(dir, "recordings")
	day := filepath.Join(root, "2026", "11", "23")
	for _, d := range []string{day, filepath.Join(dir, "recordings-old")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	wav = append([]byte("RIFF\x24\x00\x00\x00WAVEfmt "), bytes.Repeat([]byte{1, 2, 3, 4}, 64)...)
	write := func(p string, b []byte) {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(day, "ok.wav"), wav)
	write(filepath.Join(dir, "secret.txt"), []byte("top secret"))
	write(filepath.Join(dir, "recordings-old", "x.wav"), []byte("old"))
	if err := os.Symlink(filepath.Join(dir, "secret.txt"), filepath.Join(day, "link.wav")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("ok.wav", filepath.Join(day, "inner-link.wav")); err != nil {
		t.Fatal(err)
	}
	records = fakeRecords{
		"abs":        {CallID: "abs", RecordingPath: filepath.Join(day, "ok.wav")},
		"rel":        {CallID: "rel", RecordingPath: "2026/11/23/ok.wav"},
		"inner-link": {CallID: "inner-link", RecordingPath: filepath.Join(day, "inner-link.wav")},
		"none":       {CallID: "none"},
		"gone":       {CallID: "gone", RecordingPath: filepath.Join(day, "gone.wav")},
		"dotdot":     {CallID: "dotdot", RecordingPath: filepath.Join(root, "..", "secret.txt")},
		"reldotdot":  {CallID: "reldotdot", RecordingPath: "../secret.txt"},
		"other":      {CallID: "other", RecordingPath: filepath.Join(dir, "secret.txt")},
		"prefix":     {CallID: "prefix", RecordingPath: filepath.Join(dir, "recordings-old", "x.wav")},
		"symlink":    {CallID: "symlink", RecordingPath: filepath.Join(day, "link.wav")},
		"dir":        {CallID: "dir", RecordingPath: day},
		"root":       {CallID: "root", RecordingPath: root},
		"etc":        {CallID: "etc", RecordingPath: "/etc/passwd"},
	}
	return root, wav, records
}

func TestRecordingHandler(t *testing.T) {
	root, wav, records := recordingSetup(t)
	var logs bytes.Buffer
	h := RecordingHandler(slog.New(slog.NewTextHandler(&logs, nil)), root, records)
	mux := http.NewServeMux()
	mux.Handle("GET /api/recordings/{id}", h)

	tests := []struct {
		id   string
		want int
	}{
		{"abs", 200}, {"rel", 200}, {"inner-link", 200},
		{"unknown", 404}, {"none", 404}, {"gone", 404},
		{"dotdot", 403}, {"reldotdot", 403}, {"other", 403}, {"prefix", 403}, {"symlink", 403},
		{"dir", 403}, {"root", 403}, {"etc", 403},
		{"broken", 500},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			code, hdr, body := get(t, mux, "/api/recordings/"+tt.id)
			if code != tt.want {
				t.Fatalf("status %d, want %d: %s", code, tt.want, body)
			}
			if strings.Contains(body, "top secret") || strings.Contains(body, "root:") || body == "old" {
				t.Fatalf("served a file outside the root: %q", body)
			}
			if code == 200 {
				if body != string(wav) || hdr.Get("Content-Type") != "audio/wav" {
					t.Errorf("body %d bytes, type %q; want the WAV as audio/wav", len(body), hdr.Get("Content-Type"))
				}
				return
			}
			if !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") || !strings.Contains(body, `"error"`) {
				t.Errorf("error reply is not the API's JSON: %q %q", hdr.Get("Content-Type"), body)
			}
		})
	}
	if !strings.Contains(logs.String(), "recording path refused") {
		t.Errorf("refusals are not logged: %s", logs.String())
	}
}

func TestRecordingRange(t *testing.T) {
	root, wav, records := recordingSetup(t)
	h := RecordingHandler(slog.New(slog.DiscardHandler), root, records)
	req := httptest.NewRequest(http.MethodGet, "/api/recordings/abs", nil)
	req.SetPathValue("id", "abs")
	req.Header.Set("Range", "bytes=4-11")
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	body, _ := io.ReadAll(rr.Result().Body)
	if rr.Code != http.StatusPartialContent || !bytes.Equal(body, wav[4:12]) {
		t.Errorf("range: status %d body %q, want 206 %q", rr.Code, body, wav[4:12])
	}
}

func TestRecordingEscapedID(t *testing.T) {
	// A Call-ID may hold "/" or "?": RecordingURL escapes it and the mux
	// hands the handler the original id.
	root, wav, _ := recordingSetup(t)
	id := "a/b?c@host"
	records := fakeRecords{id: {CallID: id, RecordingPath: "2026/11/23/ok.wav"}}
	mux := http.NewServeMux()
	mux.Handle("GET /api/recordings/{id}", RecordingHandler(slog.New(slog.DiscardHandler), root, records))
	code, _, body := get(t, mux, "/"+RecordingURL(id))
	if code != 200 || body != string(wav) {
		t.Errorf("status %d for %s", code, RecordingURL(id))
	}
}

func TestRelInRoot(t *testing.T) {
	for _, tt := range []struct {
		root, path, want string
		ok               bool
	}{
		{"/rec", "/rec/2026/a.wav", "2026/a.wav", true},
		{"/rec/", "2026/a.wav", "2026/a.wav", true},
		{"/rec", "/rec/x/../a.wav", "a.wav", true},
		{"/rec", "/rec/../a.wav", "", false},
		{"/rec", "/recordings/a.wav", "", false},
		{"/rec", "/etc/passwd", "", false},
		{"/rec", "../../etc/passwd", "", false},
		{"/rec", "/rec", "", false},
		{"/rec", "/rec/a\x00.wav", "", false},
		{"", "/rec/a.wav", "", false},
	} {
		got, err := relInRoot(tt.root, tt.path)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("relInRoot(%q, %q) = %q, %v; want %q ok=%v", tt.root, tt.path, got, err, tt.want, tt.ok)
		}
	}
}

// FuzzRelInRoot: whatever the stored path, an accepted one resolves under
// the root.
func FuzzRelInRoot(f *testing.F) {
	for _, s := range []string{"2026/11/23/a.wav", "../x", "/etc/passwd", "a/../../b", "/rec/../rec/a", "./a", "a//b", ""} {
		f.Add(s)
	}
	const root = "/srv/rec"
	f.Fuzz(func(t *testing.T, path string) {
		rel, err := relInRoot(root, path)
		if err != nil {
			return
		}
		full := filepath.Join(root, rel)
		if !strings.HasPrefix(full, root+string(filepath.Separator)) || !filepath.IsLocal(rel) {
			t.Fatalf("relInRoot(%q) = %q, resolves to %q outside %s", path, rel, full, root)
		}
	})
}

var _ Records = cdr.Store(nil) // a cdr.Store is a Records
