// Package dashboard serves the PBX's live web page at "/": calls in
// progress, registrations, trunk state, the reload state with its last
// error, and recent calls with their routing explanation and recording.
//
// The page is rendered on the server (html/template, embedded assets, no
// build step). One small inline script re-fetches "?partial=1" every two
// seconds and swaps the sections that changed.
package dashboard

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"html/template"
	"net/http"
	"time"

	"luapbx/engine/ban"
	"luapbx/engine/call"
	"luapbx/engine/cdr"
	"luapbx/engine/registrar"
	"luapbx/engine/reload"
	"luapbx/engine/trunk"
)

// DefaultRecent is how many recent calls the page shows when
// Source.RecentLimit is 0.
const DefaultRecent = 20

// Source is where the dashboard reads the PBX's state. Every field may be
// nil: its section then says the data is not available. The functions are
// called on every page render, from the HTTP handler's goroutine.
type Source struct {
	Calls      func() []call.Info         // calls in progress (call.Manager.Calls)
	Extensions func() []registrar.Binding // registered contacts (registrar.Registrar.All)
	Trunks     func() []trunk.State       // trunk state (trunk.Manager.States)
	Bans       func() []ban.Entry         // failing/banned addresses (ban.Tracker.List)
	Reload     func() reload.Status       // live generation and last reload attempt
	// RecentCalls returns up to limit call records, newest first
	// (cdr.Store.List with cdr.Filter{Limit: limit}); nil without a store.
	RecentCalls func(ctx context.Context, limit int) ([]cdr.Record, error)
	RecentLimit int              // 0: DefaultRecent
	Now         func() time.Time // nil: time.Now
}

//go:embed assets/page.html assets/style.css assets/refresh.js
var assets embed.FS

// Handler serves the dashboard page (GET /, and GET /?partial=1 for the
// sections alone).
type Handler struct {
	src  Source
	tmpl *template.Template
	csp  string
	js   template.JS
	css  template.CSS
}

// New builds the dashboard over src. Mount it on "GET /{$}".
func New(src Source) http.Handler {
	if src.Now == nil {
		src.Now = time.Now
	}
	if src.RecentLimit <= 0 {
		src.RecentLimit = DefaultRecent
	}
	js, css := mustAsset("assets/refresh.js"), mustAsset("assets/style.css")
	return &Handler{
		src:  src,
		tmpl: template.Must(template.New("page.html").Funcs(funcs).ParseFS(assets, "assets/page.html")),
		// The page's only script and style are inline; the policy allows
		// exactly them (by hash), so an injected tag could not run.
		csp: "default-src 'none'; script-src '" + hash(js) + "'; style-src '" + hash(css) +
			"'; connect-src 'self'; media-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
		js:  template.JS(js),   // embedded constant, trusted
		css: template.CSS(css), // embedded constant, trusted
	}
}

func mustAsset(name string) string {
	b, err := assets.ReadFile(name)
	if err != nil {
		panic("dashboard: missing asset " + name)
	}
	return string(b)
}

func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// ServeHTTP renders the whole page, or with ?partial=1 only its sections.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	v := h.build(r.Context())
	name := "page"
	if r.URL.Query().Get("partial") == "1" {
		name = "sections"
	}
	var buf bytes.Buffer
	if err := h.tmpl.ExecuteTemplate(&buf, name, v); err != nil {
		http.Error(w, "dashboard: render: "+err.Error(), http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Content-Security-Policy", h.csp)
	_, _ = w.Write(buf.Bytes())
}
