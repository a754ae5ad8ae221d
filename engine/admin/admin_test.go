package admin

import (
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestCheckExposure(t *testing.T) {
	for _, tc := range []struct {
		name, addr, token string
		ok                bool
	}{
		{"loopback v4", "127.0.0.1:8080", "", true},
		{"loopback v6", "[::1]:8080", "", true},
		{"localhost", "localhost:8080", "", true},
		{"off", "", "", true},
		{"all interfaces without token", "0.0.0.0:8080", "", false},
		{"lan address without token", "192.0.2.10:8080", "", false},
		{"all interfaces with token", "0.0.0.0:8080", "secret-token-of-some-length", true},
		{"all interfaces with a short token", "0.0.0.0:8080", "short", false},
		{"loopback with a short token", "127.0.0.1:8080", "short", true},
		{"bad address", "8080", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckExposure(tc.addr, tc.token)
			if (err == nil) != tc.ok {
				t.Fatalf("CheckExposure(%q, %q) = %v, want ok=%v", tc.addr, tc.token, err, tc.ok)
			}
		})
	}
}

func TestTokenCheck(t *testing.T) {
	const token = "secret-token-of-some-length"
	s := New(slog.New(slog.NewTextHandler(io.Discard, nil)), nil, WithToken(token))
	s.Handle("GET /api/calls", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]any{"calls": []any{}})
	}))
	tests := []struct {
		name, path, auth, accept string
		code                     int
		challenge                string // WWW-Authenticate prefix on 401
	}{
		{name: "bearer token", path: "/api/calls", auth: "Bearer " + token, code: 200},
		{name: "basic password is the token", path: "/api/calls", auth: basic("admin", token), code: 200},
		{name: "basic with any user name", path: "/api/calls", auth: basic("", token), code: 200},
		{name: "wrong bearer", path: "/api/calls", auth: "Bearer nope", code: 401, challenge: "Bearer"},
		{name: "wrong basic password", path: "/api/calls", auth: basic("admin", "nope"), code: 401, challenge: "Bearer"},
		{name: "token as basic user name does not count", path: "/api/calls", auth: basic(token, ""), code: 401, challenge: "Bearer"},
		{name: "nothing, from a script", path: "/api/calls", code: 401, challenge: "Bearer"},
		{name: "nothing, from a browser", path: "/api/calls", accept: "text/html,application/xhtml+xml", code: 401, challenge: "Basic"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", tc.path, nil)
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			if tc.accept != "" {
				r.Header.Set("Accept", tc.accept)
			}
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			if w.Code != tc.code {
				t.Fatalf("status %d, want %d (%s)", w.Code, tc.code, w.Body.String())
			}
			if got := w.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, tc.challenge) || (tc.challenge == "") != (got == "") {
				t.Errorf("WWW-Authenticate %q, want prefix %q", got, tc.challenge)
			}
		})
	}
}

func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// A token read per request: setting, rotating and clearing it (a reload of
// admin.token) applies to the next request.
func TestTokenLive(t *testing.T) {
	var token atomic.Value
	token.Store("")
	s := New(slog.New(slog.NewTextHandler(io.Discard, nil)), nil, WithTokenFunc(func() string { return token.Load().(string) }))
	s.Handle("GET /api/calls", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]any{"calls": []any{}})
	}))
	const first, second = "first-token-long-enough", "second-token-long-enough"
	steps := []struct {
		name, token, auth string
		code              int
	}{
		{"no token set: open", "", "", 200},
		{"token set live: required", first, "", 401},
		{"token set live: accepted", first, "Bearer " + first, 200},
		{"rotated: old token refused", second, "Bearer " + first, 401},
		{"rotated: new token accepted", second, "Bearer " + second, 200},
		{"cleared: open again", "", "", 200},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			token.Store(st.token)
			r := httptest.NewRequest("GET", "/api/calls", nil)
			if st.auth != "" {
				r.Header.Set("Authorization", st.auth)
			}
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			if w.Code != st.code {
				t.Fatalf("status %d, want %d (%s)", w.Code, st.code, w.Body.String())
			}
		})
	}
}

func TestWriteJSONKeepsArrows(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteJSON(rec, http.StatusOK, map[string]string{"why": "201 -> 202 & <ivr>"})
	if body := rec.Body.String(); !strings.Contains(body, `"201 -> 202 & <ivr>"`) {
		t.Errorf("body %s: want the text as written", body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
}
