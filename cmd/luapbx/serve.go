package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"luapbx/engine"
	"luapbx/engine/admin"
	"luapbx/engine/config"
	"luapbx/engine/metrics"
	"luapbx/engine/pbx"
	"luapbx/engine/reload"
)

const defaultConfig = "scripts/pbx.yaml"

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", defaultConfig, "dial plan")
	sipTrace := fs.Bool("sip-trace", false, "log every SIP message in and out")
	debug := fs.Bool("debug", false, "debug logging")
	profile := fs.Bool("pprof", false, "serve Go profiles at /debug/pprof/ on the admin API (for load tests)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	// Everything serve prints goes through one coalescing writer, so log
	// lines, the SIP trace and the final messages keep their order.
	lw := newLogWriter(stderr)
	defer lw.Close()
	stderr = lw
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	m := metrics.New()
	// The admin listener stays where it started; a reload may set, rotate
	// or clear admin.token (read per request), but never leave a listener
	// off loopback without one.
	exposure := reload.WithCheck(func(running, next *config.Config) error {
		err := admin.CheckExposure(running.Listen.HTTP, next.Admin.Token)
		if err != nil && next.Listen.HTTP != running.Listen.HTTP {
			// The file may name a loopback address, but the listener
			// moves only at a restart.
			err = fmt.Errorf("%w (the admin API listens there until a restart, whatever listen.http now says)", err)
		}
		return err
	})
	mgr, err := reload.NewManager(log, *cfgPath, loaderFor(false, log, m), exposure)
	if err != nil {
		printErrors(stderr, err)
		return 1
	}
	defer mgr.Close()
	m.Generation.Set(float64(mgr.Current().Gen))
	mgr.OnReload(func(s *reload.Snapshot, err error) {
		result := "ok"
		if err != nil {
			result = "error"
		}
		m.Reloads.WithLabelValues(result).Inc()
		m.Generation.Set(float64(mgr.Current().Gen))
		ev := engine.Event{Type: "reload", Data: map[string]any{"generation": int64(s.Gen), "ok": err == nil}}
		if err != nil {
			ev.Data["error"] = err.Error()
		} else if len(s.Warnings) > 0 {
			ev.Data["warnings"] = s.Warnings
		}
		s.Emit(ev)
	})
	cfg := mgr.Current().Config

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var runErr error
	var errOnce sync.Once
	fail := func(err error) {
		if err != nil && !errors.Is(err, context.Canceled) {
			errOnce.Do(func() { runErr = err })
			cancel()
		}
	}
	goRun := func(f func() error) {
		wg.Add(1)
		go func() { defer wg.Done(); fail(f()) }()
	}

	sip, err := pbx.New(log, mgr, pbx.Options{Trace: *sipTrace, TraceTo: stderr, Metrics: m})
	if err != nil {
		fmt.Fprintln(stderr, "luapbx serve:", err)
		return 1
	}
	goRun(func() error { return sip.Run(ctx) })
	listening := []string{"sip=" + strings.Join(sip.Addrs(), ",")}

	if cfg.Listen.HTTP != "" {
		ln, err := net.Listen("tcp", cfg.Listen.HTTP)
		if err != nil {
			fmt.Fprintf(stderr, "luapbx serve: admin API on %s: %v\n", cfg.Listen.HTTP, err)
			cancel()
			wg.Wait()
			return 1
		}
		srv := admin.New(log, mgr, admin.WithTokenFunc(func() string { return mgr.Current().Config.Admin.Token }))
		sip.RegisterAdmin(srv)
		if *profile {
			registerPprof(srv)
		}
		goRun(func() error { return srv.Run(ctx, ln) })
		listening = append(listening, "http="+ln.Addr().String())
	}

	w := reload.NewWatcher(log, mgr.WatchDirs(), reload.Relevant, func(changed []string) {
		_ = mgr.Reload("files changed: " + strings.Join(changed, ", "))
	})
	mgr.Follow(w) // a reload that moves scripts.dir moves the watch
	goRun(func() error { return w.Run(ctx) })

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				_ = mgr.Reload("SIGHUP")
			}
		}
	}()

	select { // "ready" comes after the listeners say they serve
	case <-sip.Ready():
	case <-ctx.Done():
	}
	log.Info("luapbx ready", "listening", strings.Join(listening, " "), "gen", mgr.Current().Gen, "config", *cfgPath)
	<-ctx.Done()
	log.Info("shutting down")
	wg.Wait()
	sip.Close()
	if runErr != nil {
		fmt.Fprintln(stderr, "luapbx serve:", runErr)
		return 1
	}
	return 0
}
