// Package admin serves the PBX's HTTP API: health, reload, route queries,
// and whatever other parts of the PBX register (calls, registrations, CDRs,
// metrics, the dashboard).
package admin

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"luapbx/engine/reload"
)

// Server is the admin HTTP server.
type Server struct {
	log   *slog.Logger
	mgr   *reload.Manager
	token func() string // "" = no token required
	mux   *http.ServeMux
	now   func() time.Time
}

// Option configures a Server.
type Option func(*Server)

// WithToken requires the token on everything but /healthz, as
// "Authorization: Bearer <token>" (scripts) or as the password of HTTP
// Basic authentication (browsers, which prompt for it: the dashboard).
func WithToken(token string) Option { return WithTokenFunc(func() string { return token }) }

// WithTokenFunc is WithToken with the token read on every request, so a
// reload that sets, rotates or clears admin.token applies at once.
func WithTokenFunc(token func() string) Option { return func(s *Server) { s.token = token } }

// New builds the server and its built-in routes.
func New(log *slog.Logger, mgr *reload.Manager, opts ...Option) *Server {
	s := &Server{log: log, mgr: mgr, mux: http.NewServeMux(), now: time.Now, token: func() string { return "" }}
	for _, o := range opts {
		o(s)
	}
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /api/reload", s.reloadStatus)
	s.mux.HandleFunc("POST /api/reload", s.reloadNow)
	s.mux.HandleFunc("GET /api/route", s.route)
	return s
}

// Handle adds a route ("GET /api/calls").
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// ServeHTTP applies the token check and dispatches.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if token := s.token(); token != "" && r.URL.Path != "/healthz" && !authorized(r, token) {
		if strings.Contains(r.Header.Get("Accept"), "text/html") {
			// A browser: ask for the token as a password (any user name).
			w.Header().Set("WWW-Authenticate", `Basic realm="luapbx admin", charset="UTF-8"`)
		} else {
			w.Header().Set("WWW-Authenticate", `Bearer realm="luapbx"`)
		}
		WriteError(w, http.StatusUnauthorized, errors.New("missing or wrong token"))
		return
	}
	s.mux.ServeHTTP(w, r)
}

// authorized reports whether r carries the token, as a bearer token or as
// the Basic password.
func authorized(r *http.Request, token string) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		_, got, ok = r.BasicAuth()
	}
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}

// MinTokenLen is the shortest token that may guard an admin API reachable
// from other machines (the config's rule too).
const MinTokenLen = 16

// CheckExposure refuses an admin listener off loopback without a token of
// at least MinTokenLen characters. serve runs it at start-up and on every
// reload against the listener it started: the listener does not move
// until a restart, but the token is read live.
func CheckExposure(addr, token string) error {
	if addr == "" || isLoopback(addr) {
		return nil
	}
	switch {
	case token == "":
		return fmt.Errorf("admin API on %s is not a loopback address: set admin.token", addr)
	case len(token) < MinTokenLen:
		return fmt.Errorf("admin API on %s is not a loopback address: admin.token needs at least %d characters", addr, MinTokenLen)
	}
	return nil
}

// isLoopback tells whether addr ("host:port") listens on loopback only; a
// malformed address is not.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Run serves on ln until ctx ends, then shuts down gracefully.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("admin API listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	err := srv.Shutdown(shut)
	<-errc
	return err
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	snap := s.mgr.Current()
	WriteJSON(w, http.StatusOK, map[string]any{"status": "ok", "generation": snap.Gen})
}

func (s *Server) reloadStatus(w http.ResponseWriter, r *http.Request) {
	WriteJSON(w, http.StatusOK, s.mgr.Status())
}

func (s *Server) reloadNow(w http.ResponseWriter, r *http.Request) {
	err := s.mgr.Reload("api")
	st := s.mgr.Status()
	if err != nil {
		WriteJSON(w, http.StatusUnprocessableEntity, map[string]any{"ok": false, "error": err.Error(), "status": st})
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"ok": true, "status": st})
}

func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	query := reload.Query{
		From: q.Get("from"), To: q.Get("to"), Company: q.Get("company"), Trunk: q.Get("trunk"),
		At: q.Get("at"), NoLua: q.Get("no_lua") == "1" || q.Get("no_lua") == "true",
	}
	snap := s.mgr.Acquire()
	defer snap.Release()
	rep, err := snap.Route(query, s.now())
	if err != nil {
		WriteError(w, http.StatusBadRequest, err)
		return
	}
	WriteJSON(w, http.StatusOK, rep)
}

// WriteJSON writes v as indented JSON.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff") // never rendered as HTML
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // "->" in explanations stays readable; served as application/json
	_ = enc.Encode(v)
}

// WriteError writes {"error": "..."}.
func WriteError(w http.ResponseWriter, code int, err error) {
	WriteJSON(w, code, map[string]string{"error": err.Error()})
}
