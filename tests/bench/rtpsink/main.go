// Command rtpsink binds UDP ports on 127.0.0.1 and counts what arrives on
// them, per named side, so that tests/bench/media.sh can count the RTP luapbx
// relays to SIPp's calls without each datagram ending as an ICMP
// port-unreachable (whose cost landed on luapbx's sendto) and without the
// machine-wide Udp NoPorts counter.
//
// Usage:
//
//	rtpsink -counts FILE -side uac=2001-2197/4 -side uas=12001-14997/4 [-timeout 1h]
//
// A side is NAME=LIST, LIST comma-separated ports or FIRST-LAST[/STEP]
// ranges. Once every port is bound it writes FILE (through FILE.tmp and a
// rename), one line per side, "NAME DATAGRAMS BYTES", and rewrites it every
// -every; the script takes deltas of those totals. A bind failure is an
// error naming the side, the port and the reason (exit 1), and FILE is not
// written. It exits by itself after -timeout, when its parent process goes,
// or on SIGINT/SIGTERM (writing FILE a last time).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

// counts is what one side has received.
type counts struct {
	packets, bytes uint64
}

type config struct {
	sides   []side
	path    string
	every   time.Duration
	timeout time.Duration
	rcvbuf  int
	batch   time.Duration
}

func main() {
	os.Exit(realMain(os.Args[1:], os.Stderr))
}

func realMain(args []string, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "rtpsink:", err)
		}
		return 2
	}
	s, err := openSink(cfg.sides, cfg.rcvbuf, cfg.batch)
	if err != nil {
		fmt.Fprintln(stderr, "rtpsink:", err)
		return 1
	}
	defer s.close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	if err := serve(ctx, cfg, s, stderr); err != nil {
		fmt.Fprintln(stderr, "rtpsink:", err)
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	cfg := config{}
	fs := flag.NewFlagSet("rtpsink", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Func("side", "NAME=PORTS: count datagrams to PORTS (e.g. 2001,2005 or 2001-2797/4) as NAME; repeatable", func(v string) error {
		sd, err := parseSide(v)
		if err != nil {
			return err
		}
		cfg.sides = append(cfg.sides, sd)
		return nil
	})
	fs.StringVar(&cfg.path, "counts", "", "file to write the counts to (required)")
	fs.DurationVar(&cfg.every, "every", 200*time.Millisecond, "how often to rewrite the counts file")
	fs.DurationVar(&cfg.timeout, "timeout", 2*time.Hour, "exit after this long whatever happens")
	fs.IntVar(&cfg.rcvbuf, "rcvbuf", 4<<20, "SO_RCVBUF of each socket, bytes (0: the kernel's default)")
	fs.DurationVar(&cfg.batch, "batch", 50*time.Millisecond, "pause between two reads of all the sockets")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	switch {
	case fs.NArg() > 0:
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case cfg.path == "":
		return cfg, errors.New("-counts FILE is required")
	case cfg.every <= 0 || cfg.timeout <= 0:
		return cfg, errors.New("-every and -timeout must be > 0")
	case cfg.rcvbuf < 0:
		return cfg, errors.New("-rcvbuf must be >= 0")
	case cfg.batch <= 0 || cfg.batch > time.Second:
		return cfg, errors.New("-batch must be in (0, 1s]")
	}
	return cfg, checkSides(cfg.sides)
}

// serve runs the sink and rewrites the counts file every cfg.every until ctx
// ends or the parent process goes, then writes it a last time.
func serve(ctx context.Context, cfg config, s *sink, stderr io.Writer) error {
	if err := writeCounts(cfg.path, s.names, s.snapshot()); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var runErr error
	wg.Go(func() {
		runErr = s.run(ctx)
		cancel()
	})
	ppid := os.Getppid()
	tick := time.NewTicker(cfg.every)
	defer tick.Stop()
	var writeErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
		}
		if writeErr = writeCounts(cfg.path, s.names, s.snapshot()); writeErr != nil {
			break
		}
		if ppid != 1 && os.Getppid() != ppid {
			fmt.Fprintln(stderr, "rtpsink: parent process gone, exiting")
			break
		}
	}
	cancel()
	wg.Wait()
	if writeErr != nil {
		return writeErr
	}
	if runErr != nil {
		return runErr
	}
	if errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		fmt.Fprintf(stderr, "rtpsink: -timeout %s reached, exiting\n", cfg.timeout)
	}
	return writeCounts(cfg.path, s.names, s.snapshot())
}

// formatCounts renders one "NAME DATAGRAMS BYTES" line per side.
func formatCounts(names []string, cs []counts) string {
	var b strings.Builder
	for i, name := range names {
		fmt.Fprintf(&b, "%s %d %d\n", name, cs[i].packets, cs[i].bytes)
	}
	return b.String()
}

// writeCounts replaces path atomically, so a reader never sees half a file.
func writeCounts(path string, names []string, cs []counts) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(formatCounts(names, cs)), 0o644); err != nil {
		return fmt.Errorf("write counts: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write counts: %w", err)
	}
	return nil
}
