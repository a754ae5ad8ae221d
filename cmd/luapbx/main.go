// Command luapbx is a programmable PBX: serve, check, route, phone, version.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `luapbx: a programmable PBX in one binary

Usage:
  luapbx serve [--config scripts/pbx.yaml] [--sip-trace] [--debug] [--pprof]
                                                           run the PBX
  luapbx check [--config ...] [--no-lua]                    validate the plan and run its tests
  luapbx route --from N --to N [--company C] [--trunk T] [--at 2026-11-23T10:00] [--no-lua] [--json]
                                                           decide a call without placing it, and explain
  luapbx phone register|call|answer ...                     a SIP phone for tests (luapbx phone -h)
  luapbx version
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stdout, stderr)
	case "check":
		return check(args[1:], stdout, stderr)
	case "route":
		return route(args[1:], stdout, stderr)
	case "phone":
		return phoneCmd(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "luapbx", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "luapbx: unknown command %q\n\n%s", args[0], usage)
	return 2
}
