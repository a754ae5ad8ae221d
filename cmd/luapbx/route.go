package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"luapbx/engine/reload"
)

func route(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("route", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", defaultConfig, "dial plan")
	var q reload.Query
	fs.StringVar(&q.From, "from", "", "calling number (an extension makes the call internal)")
	fs.StringVar(&q.To, "to", "", "called number")
	fs.StringVar(&q.Company, "company", "", "company (default: the caller's, the trunk's, or the only one)")
	fs.StringVar(&q.Trunk, "trunk", "", "the call comes in from this trunk (external)")
	fs.StringVar(&q.At, "at", "", "when: 2026-11-23T10:00 in the company's time zone, or RFC 3339; default now")
	fs.BoolVar(&q.NoLua, "no-lua", false, "decide without the scripts' hooks")
	asJSON := fs.Bool("json", false, "print JSON")
	debug := fs.Bool("debug", false, "also show the scripts' debug log lines")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if q.To == "" || q.From == "" {
		fmt.Fprintln(stderr, "luapbx route: --from and --to are required (e.g. --from 201 --to 4444)")
		return 2
	}
	// The scripts' own log lines (a CRM lookup that failed, say) explain a
	// decision as much as the explanation does: on stderr, info and up (and
	// the hooks' failures, at warn), so stdout stays the decision alone.
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	snap, err := reload.Build(*cfgPath, loaderFor(q.NoLua, log, nil))
	if err != nil {
		printErrors(stderr, err)
		return 1
	}
	defer snap.Release()
	rep, err := snap.Route(q, time.Now())
	if err != nil {
		fmt.Fprintln(stderr, "luapbx route:", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false) // "->" in explanations, not "-\u003e"
		_ = enc.Encode(rep)
		return 0
	}
	fmt.Fprintln(stdout, strings.TrimRight(rep.Text(), "\n"))
	return 0
}
