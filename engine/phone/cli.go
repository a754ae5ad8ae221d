package phone

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

const usage = `usage: luapbx phone <command> [flags]

commands:
  register            register --user with --server and exit
  unregister          remove our registration (Expires: 0); --all: every contact of --user
  call <number|uri>   call a number through --server, or a sip: URI directly
  answer              register (unless --no-register), then answer --count calls

Every command prints a JSON summary per call or registration on stdout:
codes seen and sent with timings in ms, final code, state and call-id.
Exit status 0 when the final code is the expected one (--expect, else 2xx).
Durations are Go durations (1.5s, 200ms) or plain seconds.
`

// seconds is a duration flag that also accepts plain seconds ("2").
type seconds struct{ d *time.Duration }

func (s seconds) String() string {
	if s.d == nil {
		return "0s"
	}
	return s.d.String()
}

func (s seconds) Set(v string) error {
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		*s.d = time.Duration(f * float64(time.Second))
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("not a duration: %q", v)
	}
	*s.d = d
	return nil
}

type cliFlags struct {
	cfg                      Config
	onEnd                    func(Summary) // answer: print a call's summary when it ends
	timeout, expires         time.Duration
	hangupAfter, cancelAfter time.Duration
	answerAfter              time.Duration
	expect, count, reject    int
	noRegister, noRinging    bool
	all                      bool
	earlyMedia               bool
	verbose                  bool
	media                    MediaOptions
	codec                    string
}

func newFlagSet(stderr io.Writer, f *cliFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("phone", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage, "\nflags:\n"); fs.PrintDefaults() }
	fs.StringVar(&f.cfg.Server, "server", "udp:127.0.0.1:5060", "registrar/proxy, udp:IP:PORT or tcp:IP:PORT")
	fs.StringVar(&f.cfg.Listen, "listen", "udp:127.0.0.1:0", "local SIP address")
	fs.StringVar(&f.cfg.User, "user", "", "our extension (AOR user)")
	fs.StringVar(&f.cfg.AuthUser, "auth-user", "", "digest user name (default --user)")
	fs.StringVar(&f.cfg.Password, "password", "", "digest password")
	fs.StringVar(&f.cfg.Domain, "domain", "", "domain of our From/To URIs (default the server's IP)")
	fs.StringVar(&f.cfg.Algorithm, "algorithm", "", "digest challenge to answer: MD5 or SHA-256 (default: the first offered)")
	f.timeout = 60 * time.Second
	fs.Var(seconds{&f.timeout}, "timeout", "give up after this long (0: never)")
	f.expires = time.Hour
	fs.Var(seconds{&f.expires}, "expires", "registration lifetime")
	fs.Var(seconds{&f.hangupAfter}, "hangup-after", "send BYE this long after the answer (0: wait for BYE)")
	fs.Var(seconds{&f.cancelAfter}, "cancel-after", "call: CANCEL if not answered by then")
	fs.Var(seconds{&f.answerAfter}, "answer-after", "answer: ring this long before answering")
	fs.IntVar(&f.expect, "expect", 0, "expected final status (default any 2xx)")
	fs.IntVar(&f.count, "count", 1, "answer: calls to handle")
	fs.IntVar(&f.reject, "reject", 0, "answer: reject with this status instead of answering")
	fs.BoolVar(&f.noRegister, "no-register", false, "answer: do not register first")
	fs.BoolVar(&f.all, "all", false, "unregister: remove every contact of --user (Contact: *), not only ours")
	fs.BoolVar(&f.noRinging, "no-ringing", false, "answer: do not send 180 Ringing")
	fs.BoolVar(&f.earlyMedia, "early-media", false, "answer: send 183 with SDP and start --play before the answer (an announcement)")
	fs.BoolVar(&f.verbose, "v", false, "log SIP activity to stderr")
	fs.StringVar(&f.media.PlayFile, "play", "", "send this 8 kHz mono 16-bit WAV as RTP after the answer")
	fs.StringVar(&f.media.Record, "record", "", "write the received audio to this WAV (8 kHz mono 16-bit)")
	fs.StringVar(&f.media.DTMF, "dtmf", "", "send these digits as RFC 4733 events after the answer")
	fs.IntVar(&f.media.SDPPort, "sdp-port", 0, "write this RTP port in our SDP instead of the real one (a phone behind NAT)")
	fs.StringVar(&f.codec, "codec", "", "offer/accept only this codec: PCMU or PCMA (default both)")
	return fs
}

// parseArgs reads flags placed before and after positional arguments.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// Main is `luapbx phone`: it returns the process exit status.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprint(stderr, usage)
		var f cliFlags
		fs := newFlagSet(stderr, &f)
		fmt.Fprintln(stderr, "\nflags (each command takes them after its name):")
		fs.PrintDefaults()
		return 2
	}
	cmd := args[0]
	var f cliFlags
	fs := newFlagSet(stderr, &f)
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return 2
	}
	if f.verbose {
		f.cfg.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if f.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.timeout)
		defer cancel()
	}
	out := json.NewEncoder(stdout)
	run, ok := commands[cmd]
	if !ok {
		fmt.Fprintf(stderr, "phone: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	switch {
	case cmd == "call" && len(pos) == 0:
		fmt.Fprintf(stderr, "phone: call which number? e.g. luapbx phone call 202 --user 201 --password ...\n\n%s", usage)
		return 2
	case cmd == "call" && len(pos) > 1:
		fmt.Fprintf(stderr, "phone: call takes one number or URI, got %q (flags go after it)\n\n%s", pos, usage)
		return 2
	case cmd != "call" && len(pos) != 0:
		fmt.Fprintf(stderr, "phone: %s takes no arguments, got %q\n\n%s", cmd, pos, usage)
		return 2
	}
	if err := f.setupMedia(); err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	p, err := New(f.cfg)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer func() { _ = p.Close() }()
	// answer prints each call's summary when it ends (a test or a person
	// watching stdout sees calls as they happen); the others at the end.
	var printed atomic.Int64
	f.onEnd = func(s Summary) {
		if out.Encode(s) == nil {
			printed.Add(1)
		}
	}
	sums, err := run(ctx, p, &f, pos)
	status := 0
	for i, s := range sums {
		if cmd != "answer" || int64(i) >= printed.Load() {
			if encErr := out.Encode(s); encErr != nil {
				fmt.Fprintln(stderr, encErr)
				return 1
			}
		}
		if !s.ExpectOK {
			status = 1
		}
		if cmd == "unregister" && s.State == StateUnregistered && len(s.Contacts) > 0 {
			// Ours is gone (or was never there), others stay: say so.
			fmt.Fprintf(stderr, "phone: the registrar still lists %d contact(s) for %s (other phones, or earlier runs on other ports): "+
				"unregister --all removes them\n", len(s.Contacts), f.cfg.User)
		}
	}
	switch {
	case err == nil:
	case cmd == "answer" && errors.Is(err, context.DeadlineExceeded) && len(sums) < max(f.count, 1):
		fmt.Fprintf(stderr, "phone: %d of %d calls arrived within --timeout %s\n", len(sums), max(f.count, 1), f.timeout)
		status = 1
	default:
		fmt.Fprintln(stderr, "phone:", err)
		status = 1
	}
	return status
}

type command func(ctx context.Context, p *Phone, f *cliFlags, pos []string) ([]Summary, error)

var commands = map[string]command{
	"register": func(ctx context.Context, p *Phone, f *cliFlags, _ []string) ([]Summary, error) {
		s, err := p.Register(ctx, f.expires)
		return []Summary{s}, err
	},
	"unregister": func(ctx context.Context, p *Phone, f *cliFlags, _ []string) ([]Summary, error) {
		if f.all {
			s, err := p.UnregisterAll(ctx)
			return []Summary{s}, err
		}
		s, err := p.Register(ctx, 0)
		return []Summary{s}, err
	},
	"call": func(ctx context.Context, p *Phone, f *cliFlags, pos []string) ([]Summary, error) {
		s, err := p.Call(ctx, pos[0], CallOptions{HangupAfter: f.hangupAfter, CancelAfter: f.cancelAfter, Expect: f.expect})
		return []Summary{s}, err
	},
	"answer": answerCommand,
}

func answerCommand(ctx context.Context, p *Phone, f *cliFlags, _ []string) ([]Summary, error) {
	// Answer before registering: a call may follow the registration at once.
	an, err := p.StartAnswer(ctx, AnswerOptions{
		Count: f.count, Delay: f.answerAfter, Reject: f.reject,
		HangupAfter: f.hangupAfter, NoRinging: f.noRinging, EarlyMedia: f.earlyMedia, Expect: f.expect, OnEnd: f.onEnd,
	})
	if err != nil {
		return nil, err
	}
	if !f.noRegister {
		// Stay registered (refreshing) while answering; unregister at the end.
		regCtx, stop := context.WithCancel(ctx)
		first := make(chan Summary, 1)
		done := make(chan error, 1)
		go func() { done <- p.KeepRegistered(regCtx, f.expires, func(s Summary) { first <- s }) }()
		defer func() {
			stop()
			<-done
		}()
		if s := <-first; s.State != StateRegistered {
			return []Summary{s}, errors.New("registration failed")
		}
	}
	return an.Wait()
}

// setupMedia turns the media flags into Config.Media and Config.Codecs.
func (f *cliFlags) setupMedia() error {
	switch strings.ToUpper(f.codec) {
	case "":
	case "PCMU":
		f.cfg.Codecs = []uint8{ptPCMU}
	case "PCMA":
		f.cfg.Codecs = []uint8{ptPCMA}
	default:
		return fmt.Errorf("phone: --codec %q: want PCMU or PCMA", f.codec)
	}
	m := f.media
	if m.SDPPort < 0 || m.SDPPort > 65535 {
		return fmt.Errorf("phone: --sdp-port %d: want 1..65535", m.SDPPort)
	}
	if m.PlayFile == "" && m.Record == "" && m.DTMF == "" && m.SDPPort == 0 {
		return nil
	}
	mf, err := RTPMedia(m)
	if err != nil {
		return err
	}
	f.cfg.Media = mf
	return nil
}
