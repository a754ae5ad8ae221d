package harness

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// baresipModules are the modules a Baresip loads, all from Debian's
// baresip-core: codecs, a sine "microphone", the ALSA null device as the
// speaker, the sndfile filter that dumps what is sent and received, the
// account list, the command menu and its TCP control socket.
var baresipModules = []string{"g711", "ausine", "alsa", "sndfile", "account", "menu", "ctrl_tcp"}

const baresipModuleDir = "/usr/lib/baresip/modules"

// BaresipBinary finds baresip and the modules a Baresip loads; without
// them the test is skipped (failed when the CI variable is set).
func BaresipBinary(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("baresip")
	if err != nil {
		SkipOrFail(t, "baresip not installed (apt-get install baresip): real-softphone scenario not run")
	}
	for _, m := range baresipModules {
		if _, err := os.Stat(filepath.Join(baresipModuleDir, m+".so")); err != nil {
			SkipOrFail(t, fmt.Sprintf("baresip module %s missing in %s (apt-get install baresip)", m, baresipModuleDir))
		}
	}
	return path
}

// BaresipOptions configures one baresip softphone. Its ports are fixed:
// run it inside Netns, where nothing else holds them.
type BaresipOptions struct {
	User, Password string
	Registrar      string // the PBX's UDP SIP listener, host:port
	SIPPort        int    // on 127.0.0.1; baresip also takes SIPPort+1 (TLS)
	CtrlPort       int    // ctrl_tcp on 127.0.0.1
	RTPPorts       string // e.g. "10000-10099"; keep it out of the PBX's range
	ToneHz         int    // the sine its "microphone" sends (10..20000 Hz)
}

// BaresipEvent is an event ctrl_tcp reports (UA_EVENT_*, e.g.
// CALL_INCOMING, CALL_ESTABLISHED, CALL_DTMF_START, CALL_CLOSED).
type BaresipEvent struct {
	Type       string `json:"type"`
	Class      string `json:"class"`
	AccountAOR string `json:"accountaor"`
	Direction  string `json:"direction"`
	PeerURI    string `json:"peeruri"`
	ID         string `json:"id"`
	Param      string `json:"param"`
}

type baresipMsg struct {
	BaresipEvent
	Event    bool   `json:"event"`
	Response bool   `json:"response"`
	OK       bool   `json:"ok"`
	Data     string `json:"data"`
	Token    string `json:"token"`
}

// Baresip is a running baresip driven through ctrl_tcp.
type Baresip struct {
	Dir  string // its config folder; sndfile dumps go to Dir/snd
	opts BaresipOptions
	cmd  *exec.Cmd
	done chan struct{}
	conn net.Conn
	rd   sync.WaitGroup

	mu       sync.Mutex
	events   []BaresipEvent
	used     []bool
	replies  map[string]chan baresipMsg
	token    int
	readErr  error
	stopOnce sync.Once
}

// StartBaresip writes a config and an account for opts into a new temp
// folder, starts baresip on it and connects to its control socket. It is
// stopped when the test ends.
func StartBaresip(t testing.TB, opts BaresipOptions) *Baresip {
	t.Helper()
	bin := BaresipBinary(t)
	b := &Baresip{Dir: t.TempDir(), opts: opts, done: make(chan struct{}), replies: map[string]chan baresipMsg{}}
	if err := os.MkdirAll(b.snd(), 0o755); err != nil {
		t.Fatal(err)
	}
	WriteFile(t, b.Dir, "config", b.config())
	// The account registers at the PBX; PCMU only, like most desk phones.
	WriteFile(t, b.Dir, "accounts", fmt.Sprintf("<sip:%s@%s;transport=udp>;auth_pass=%s;regint=600;audio_codecs=PCMU\n",
		opts.User, opts.Registrar, opts.Password))
	logf, err := os.Create(filepath.Join(b.Dir, "baresip.log"))
	if err != nil {
		t.Fatal(err)
	}
	// -s traces every SIP message into the log: the test reads which digest
	// algorithm it answered, and a failure shows the whole exchange.
	b.cmd = exec.Command(bin, "-s", "-f", b.Dir)
	b.cmd.Stdout, b.cmd.Stderr = logf, logf
	killWithParent(b.cmd)
	if err := b.cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start baresip %s: %v", opts.User, err)
	}
	go func() { _ = b.cmd.Wait(); logf.Close(); close(b.done) }()
	t.Cleanup(func() {
		b.Stop(t)
		if t.Failed() {
			t.Logf("baresip %s log (tail):\n%s", opts.User, tail(b.Logs(), 12000))
		}
	})
	b.connect(t)
	return b
}

func (b *Baresip) snd() string { return filepath.Join(b.Dir, "snd") }

func (b *Baresip) config() string {
	o := b.opts
	lines := [][2]string{
		{"poll_method", "epoll"},
		{"sip_listen", fmt.Sprintf("127.0.0.1:%d", o.SIPPort)},
		// An address, not "lo": baresip 1.0.0 finds no address for "lo".
		{"net_interface", "127.0.0.1"},
		{"rtp_ports", o.RTPPorts},
		{"audio_player", "alsa,null"},
		{"audio_alert", "alsa,null"},
		{"audio_source", fmt.Sprintf("ausine,%d", o.ToneHz)},
		// ausine produces only 48 kHz stereo.
		{"ausrc_srate", "48000"},
		{"ausrc_channels", "2"},
		{"module_path", baresipModuleDir},
		{"ctrl_tcp_listen", fmt.Sprintf("127.0.0.1:%d", o.CtrlPort)},
		{"snd_path", b.snd()},
	}
	var s strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&s, "%-20s %s\n", l[0], l[1])
	}
	for _, m := range baresipModules {
		kind := "module"
		if m == "account" || m == "menu" || m == "ctrl_tcp" {
			kind = "module_app"
		}
		fmt.Fprintf(&s, "%-20s %s.so\n", kind, m)
	}
	return s.String()
}

// connect dials ctrl_tcp (retrying while baresip starts) and reads its
// netstrings in the background.
func (b *Baresip) connect(t testing.TB) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", b.opts.CtrlPort)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			b.conn = c
			break
		}
		select {
		case <-b.done:
			t.Fatalf("baresip %s exited at start:\n%s", b.opts.User, tail(b.Logs(), 4000))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("baresip %s: no ctrl_tcp on %s after 10s: %v", b.opts.User, addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.rd.Add(1)
	go b.read()
}

func (b *Baresip) read() {
	defer b.rd.Done()
	r := bufio.NewReader(b.conn)
	for {
		payload, err := readNetstring(r)
		if err != nil {
			b.mu.Lock()
			b.readErr = err
			for _, ch := range b.replies {
				close(ch)
			}
			b.replies = map[string]chan baresipMsg{}
			b.mu.Unlock()
			return
		}
		var m baresipMsg
		if json.Unmarshal(payload, &m) != nil {
			continue
		}
		b.mu.Lock()
		switch {
		case m.Event:
			b.events = append(b.events, m.BaresipEvent)
			b.used = append(b.used, false)
		case m.Response:
			if ch, ok := b.replies[m.Token]; ok {
				delete(b.replies, m.Token)
				ch <- m
			}
		}
		b.mu.Unlock()
	}
}

// readNetstring reads one "<len>:<payload>," frame.
func readNetstring(r *bufio.Reader) ([]byte, error) {
	head, err := r.ReadString(':')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(head[:len(head)-1])
	if err != nil || n < 0 || n > 1<<20 {
		return nil, fmt.Errorf("netstring: bad length %q", head)
	}
	buf := make([]byte, n+1)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	if buf[n] != ',' {
		return nil, errors.New("netstring: no trailing comma")
	}
	return buf[:n], nil
}

// Command runs a menu command (dial, accept, hangup, sndcode, reginfo...)
// and returns its output; a command baresip refuses fails the test.
func (b *Baresip) Command(t testing.TB, command, params string) string {
	t.Helper()
	b.mu.Lock()
	b.token++
	tok := strconv.Itoa(b.token)
	ch := make(chan baresipMsg, 1)
	b.replies[tok] = ch
	b.mu.Unlock()
	msg, _ := json.Marshal(map[string]string{"command": command, "params": params, "token": tok})
	_ = b.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(b.conn, "%d:%s,", len(msg), msg); err != nil {
		t.Fatalf("baresip %s %s: %v", b.opts.User, command, err)
	}
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatalf("baresip %s %s: control connection closed", b.opts.User, command)
		}
		if !m.OK {
			t.Fatalf("baresip %s %s %q refused: %s", b.opts.User, command, params, strings.TrimSpace(m.Data))
		}
		return m.Data
	case <-time.After(5 * time.Second):
		t.Fatalf("baresip %s %s: no response within 5s", b.opts.User, command)
	}
	return ""
}

// WaitEvent returns the first event of type typ not returned before,
// waiting up to timeout for it.
func (b *Baresip) WaitEvent(t testing.TB, typ string, timeout time.Duration) BaresipEvent {
	t.Helper()
	if ev, ok := b.PollEvent(typ, timeout); ok {
		return ev
	}
	t.Fatalf("baresip %s: no %s event within %s; events seen: %s", b.opts.User, typ, timeout, b.eventTypes())
	return BaresipEvent{}
}

// PollEvent is WaitEvent without failing: ok is false after timeout.
func (b *Baresip) PollEvent(typ string, timeout time.Duration) (BaresipEvent, bool) {
	deadline := time.Now().Add(timeout)
	for {
		b.mu.Lock()
		for i, ev := range b.events {
			if ev.Type == typ && !b.used[i] {
				b.used[i] = true
				b.mu.Unlock()
				return ev, true
			}
		}
		b.mu.Unlock()
		if time.Now().After(deadline) {
			return BaresipEvent{}, false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (b *Baresip) eventTypes() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	types := make([]string, len(b.events))
	for i, ev := range b.events {
		types[i] = ev.Type
	}
	return strings.Join(types, " ")
}

// Logs returns what baresip printed so far (SIP trace included).
func (b *Baresip) Logs() string {
	out, _ := os.ReadFile(filepath.Join(b.Dir, "baresip.log"))
	return string(out)
}

// Dump returns the sndfile dump of one direction: "enc" is what baresip
// sent (its sine), "dec" what it received and decoded; 8 kHz mono WAV,
// complete only once baresip has stopped. Exactly one call must have run.
func (b *Baresip) Dump(t testing.TB, dir string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(b.snd(), "dump-*-"+dir+".wav"))
	if len(files) != 1 {
		t.Fatalf("baresip %s: %d %s dumps in %s, want 1: %v", b.opts.User, len(files), dir, b.snd(), files)
	}
	return files[0]
}

// Stop ends baresip (SIGTERM, then SIGKILL after 5 s: with a transaction
// still open, e.g. towards a PBX that is gone, it waits for SIP timers of
// up to 32 s before exiting) and waits for it; safe to call twice.
func (b *Baresip) Stop(t testing.TB) {
	b.stopOnce.Do(func() {
		_ = b.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-b.done:
		case <-time.After(5 * time.Second):
			_ = b.cmd.Process.Kill()
			<-b.done
			t.Logf("baresip %s did not stop within 5s of SIGTERM: killed", b.opts.User)
		}
		if b.conn != nil {
			b.conn.Close()
			b.rd.Wait()
		}
	})
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
