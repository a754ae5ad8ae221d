package admin

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkTokenCheck is the per-request cost of the live token: read it,
// compare it, dispatch.
func BenchmarkTokenCheck(b *testing.B) {
	const token = "secret-token-of-some-length"
	s := New(slog.New(slog.NewTextHandler(io.Discard, nil)), nil, WithTokenFunc(func() string { return token }))
	s.Handle("GET /api/ping", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	r := httptest.NewRequest("GET", "/api/ping", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		s.ServeHTTP(w, r)
	}
	if w.Code != http.StatusNoContent {
		b.Fatalf("status %d", w.Code)
	}
}
