package main

import (
	"net/http"
	"net/http/pprof"

	"luapbx/engine/admin"
)

// registerPprof exposes the Go runtime's profiles on the admin API, behind
// its token rules, for `serve --pprof` during load tests.
func registerPprof(srv *admin.Server) {
	srv.Handle("GET /debug/pprof/", http.HandlerFunc(pprof.Index))
	srv.Handle("GET /debug/pprof/profile", http.HandlerFunc(pprof.Profile))
	srv.Handle("GET /debug/pprof/trace", http.HandlerFunc(pprof.Trace))
	srv.Handle("GET /debug/pprof/symbol", http.HandlerFunc(pprof.Symbol))
}
