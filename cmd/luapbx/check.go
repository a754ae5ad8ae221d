package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"luapbx/engine/config"
	"luapbx/engine/reload"
	"luapbx/engine/routing"
)

func check(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", defaultConfig, "dial plan")
	noLua := fs.Bool("no-lua", false, "check without loading the scripts")
	strict := fs.Bool("strict", false, "exit 1 on warnings too (weak passwords, hooks that failed in the tests): for CI")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		printErrors(stderr, err)
		return 1
	}
	warnings := len(cfg.Warnings)
	for _, w := range cfg.Warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	r, err := cfg.Router(1)
	if err != nil {
		printErrors(stderr, err)
		return 1
	}
	var hooks routing.Hooks
	scripts := "scripts not loaded (--no-lua)"
	if !*noLua {
		pol, err := loaderFor(false, quietLogger(stderr), nil)(cfg, r, nil)
		if err != nil {
			printErrors(stderr, err)
			return 1
		}
		if pol != nil {
			defer pol.Close()
			hooks = pol
			scripts = "scripts loaded"
		} else {
			scripts = "no scripts"
		}
	}
	results, hookWarnings := reload.RunTests(cfg, r, hooks)
	failed := 0
	for _, res := range results {
		fmt.Fprintln(stdout, strings.TrimRight(res.Text(), "\n"))
		if !res.Pass {
			failed++
		}
		// A hook that failed leaves the built-in decision, which may be
		// just what the test expects: say so, or the script's bug hides.
		for _, e := range res.Report.HookErrors {
			fmt.Fprintf(stderr, "warning: %s:%d: test %q: lua error: %s\n", res.File, res.Line, res.Name, e)
			warnings++
		}
	}
	// Per hook, what a reload would report (it does not refuse it: a hook
	// may fail only because its CRM is down while checking).
	for _, w := range hookWarnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	if failed > 0 {
		fmt.Fprintf(stdout, "%s: %d of %d tests failed\n", *cfgPath, failed, len(results))
		return 1
	}
	fmt.Fprintf(stdout, "%s: config valid, %s, %d tests passed%s\n", *cfgPath, scripts, len(results), hookSummary(hookWarnings))
	if *strict && warnings+len(hookWarnings) > 0 {
		fmt.Fprintf(stdout, "%s: %d warning(s) (--strict)\n", *cfgPath, warnings+len(hookWarnings))
		return 1
	}
	return 0
}

// hookSummary is the end of check's last line when hooks failed in the
// tests: ", but on_route failed in 8 of 8 test calls (see the warnings)".
func hookSummary(warnings []string) string {
	if len(warnings) == 0 {
		return ""
	}
	parts := make([]string, len(warnings))
	for i, w := range warnings {
		parts[i], _, _ = strings.Cut(w, ": ")
	}
	return ", but " + strings.Join(parts, ", ") + " (see the warnings)"
}

// printErrors prints each problem on its own line (file:line: message).
func printErrors(w io.Writer, err error) {
	var problems config.Errors
	if errors.As(err, &problems) {
		for _, l := range problems.Lines() {
			fmt.Fprintln(w, l)
		}
		return
	}
	fmt.Fprintln(w, err)
}

// quietLogger logs errors only, for the one-shot commands: a script that
// cannot reach its CRM while checking is not news (hook errors still are,
// and they are also in the explanation).
func quietLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelError}))
}
