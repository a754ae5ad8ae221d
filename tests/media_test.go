package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"luapbx/engine/cdr"
	"luapbx/engine/phone"
	"luapbx/media/correlate"
	"luapbx/media/wav"
	"luapbx/tests/harness"
)

// Media end to end: the real binary anchors the audio of calls between
// `luapbx phone` processes, as a user would run them.

// mediaPlan is a plan with extensions 201-203 (passwords
// "a-long-passphrase-<n>"; 202 has a voicemail greeting), recordings and
// voicemail under var/, 777 echo (778 recorded),
// 700 an IVR whose key 1 leads to 202's voicemail, and every call to 203
// recorded.
func mediaPlan(rtpBase int) string {
	var exts strings.Builder
	for _, n := range []string{"201", "202", "203"} {
		greeting := ""
		if n == "202" {
			greeting = ", greeting: greeting.wav"
		}
		fmt.Fprintf(&exts, "      - {number: %q, password: \"a-long-passphrase-%s\", voicemail: true%s}\n", n, n, greeting)
	}
	return fmt.Sprintf(`listen: {sip: ["udp:127.0.0.1:0"], http: "127.0.0.1:0", rtp_ports: "%d-%d"}
storage: {cdr: "sqlite:var/cdr.db", recordings: var/recordings, voicemail: var/voicemail}
security: {ban_after_failures: 0}
companies:
  - id: acme
    timezone: UTC
    extensions:
%s    ivrs:
      - {id: main, number: "700", prompt: prompt.wav, timeout_seconds: 5, options: {"1": "voicemail:202"}}
    rules:
      - {name: echo, caller_type: internal, called: "^$777", action: route, target: "app:echo"}
      - {name: echo-recorded, caller_type: internal, called: "^$778", action: route, target: "app:echo", record: true}
      - {name: recorded, caller_type: internal, called: "^$203", action: route, target: "user:203", record: true}
`, rtpBase, rtpBase+99, exts.String())
}

// startMediaPlan starts the binary on mediaPlan, with a 1 s IVR prompt
// (signal 40) and a 1 s voicemail greeting (signal 42).
func startMediaPlan(t *testing.T, rtpBase int) (*harness.Server, string) {
	t.Helper()
	files := map[string]string{}
	for name, seed := range map[string]uint64{"prompt.wav": 40, "greeting.wav": 42} {
		path := filepath.Join(t.TempDir(), name)
		writeSignal(t, path, 8000, seed)
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		files[name] = string(raw)
	}
	return startPlan(t, mediaPlan(rtpBase), files)
}

// writeSignal writes n samples of correlate.TestSignal(seed) as a prompt WAV.
func writeSignal(t *testing.T, path string, n int, seed uint64) []int16 {
	t.Helper()
	sig := correlate.TestSignal(n, seed)
	w, err := wav.Create(path, wav.Mono8k)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteSamples(sig); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return sig
}

func readPCM(t *testing.T, path string) ([]int16, wav.Format) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pcm, format, err := wav.ReadPCM(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return pcm, format
}

// phoneProc is a `luapbx phone` process.
type phoneProc struct {
	cmd    *exec.Cmd
	out    bytes.Buffer
	errb   bytes.Buffer
	done   chan struct{}
	cancel context.CancelFunc
}

// startPhone runs `luapbx phone args...` against srv's UDP listener.
func startPhone(t *testing.T, srv *harness.Server, args ...string) *phoneProc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	args = append([]string{"phone"}, args...)
	args = append(args, "--server", "udp:"+srv.SIP["udp"], "--timeout", "20s")
	p := &phoneProc{cmd: exec.CommandContext(ctx, harness.Binary(t), args...), done: make(chan struct{}), cancel: cancel}
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.errb
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { cancel(); <-p.done })
	return p
}

// wait returns the process's JSON summaries (one per call or registration).
func (p *phoneProc) wait(t *testing.T) []phone.Summary {
	t.Helper()
	<-p.done
	var out []phone.Summary
	dec := json.NewDecoder(&p.out)
	for {
		var s phone.Summary
		if err := dec.Decode(&s); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("phone summary: %v (stderr: %s)", err, p.errb.String())
		}
		out = append(out, s)
	}
	return out
}

// lastCall is the summary of the last call or answer in ss.
func lastCall(t *testing.T, ss []phone.Summary, who string) phone.Summary {
	t.Helper()
	for i := len(ss) - 1; i >= 0; i-- {
		if ss[i].Action == "call" || ss[i].Action == "answer" {
			return ss[i]
		}
	}
	t.Fatalf("%s printed no call summary: %+v", who, ss)
	return phone.Summary{}
}

// waitRegistered polls /api/registrations until user has a contact.
func waitRegistered(t *testing.T, srv *harness.Server, user string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var regs struct {
			Extensions []struct {
				AOR string `json:"aor"`
			} `json:"extensions"`
		}
		getJSON(t, srv, "/api/registrations", &regs)
		for _, e := range regs.Extensions {
			if e.AOR == user || strings.HasPrefix(e.AOR, "sip:"+user+"@") {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never registered", user)
}

// cdrRow waits for the CDR row of callID.
func cdrRow(t *testing.T, srv *harness.Server, callID string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var out struct {
			Records []map[string]any `json:"records"`
		}
		getJSON(t, srv, "/api/cdr?limit=50", &out)
		for _, r := range out.Records {
			if r["call_id"] == callID {
				return r
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no CDR row for %s", callID)
	return nil
}

// pieceCorrelation is the median, over the half-second pieces of got that
// hold sound, of each piece's best correlation anywhere in sent: what was
// recorded must be what was sent, whatever shifts a badly loaded machine
// causes (a voicemail starts by arrival; a recording re-anchors a channel
// after a stall longer than it keeps). No sound at all gives 0.
func pieceCorrelation(sent, got []int16) float64 {
	const piece = 4000
	var cs []float64
	for off := 0; off+piece <= len(got); off += piece {
		p := got[off : off+piece]
		var energy float64
		for _, v := range p {
			energy += float64(v) * float64(v)
		}
		if math.Sqrt(energy/piece) < 300 { // silence (the signal's RMS is ~3000)
			continue
		}
		c, _ := correlate.Best(p, sent, len(sent))
		cs = append(cs, c)
	}
	if len(cs) == 0 {
		return 0
	}
	slices.Sort(cs)
	return cs[len(cs)/2]
}

func channel(pcm []int16, ch int) []int16 {
	out := make([]int16, 0, len(pcm)/2)
	for i := ch; i < len(pcm); i += 2 {
		out = append(out, pcm[i])
	}
	return out
}

func TestMediaTwoPhones(t *testing.T) {
	tests := []struct {
		name                     string
		to                       string
		callerCodec, calleeCodec string
		natCaller                bool // the caller's SDP names a port it does not send from
		record                   bool
	}{
		{name: "pcmu both ways", to: "202", callerCodec: "PCMU", calleeCodec: "PCMU"},
		{name: "pcmu caller to pcma callee", to: "202", callerCodec: "PCMU", calleeCodec: "PCMA"},
		{name: "caller behind nat is latched", to: "202", natCaller: true},
		{name: "recorded", to: "203", record: true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, cfgDir := startMediaPlan(t, 36000+100*i)
			dir := t.TempDir() // the phones' audio, outside the watched config folder
			sigA := writeSignal(t, filepath.Join(dir, "a.wav"), 16000, 21)
			sigB := writeSignal(t, filepath.Join(dir, "b.wav"), 16000, 22)
			recA, recB := filepath.Join(dir, "got-a.wav"), filepath.Join(dir, "got-b.wav")

			callee := []string{"answer", "--user", tc.to, "--password", "a-long-passphrase-" + tc.to,
				"--play", filepath.Join(dir, "b.wav"), "--record", recB}
			if tc.calleeCodec != "" {
				callee = append(callee, "--codec", tc.calleeCodec)
			}
			b := startPhone(t, srv, callee...)
			waitRegistered(t, srv, tc.to)

			caller := []string{"call", tc.to, "--user", "201", "--password", "a-long-passphrase-201",
				"--play", filepath.Join(dir, "a.wav"), "--record", recA, "--hangup-after", "2.5s"}
			if tc.callerCodec != "" {
				caller = append(caller, "--codec", tc.callerCodec)
			}
			if tc.natCaller {
				caller = append(caller, "--sdp-port", "9") // discard: nothing of ours listens there
			}
			a := lastCall(t, startPhone(t, srv, caller...).wait(t), "caller")
			bs := lastCall(t, b.wait(t), "callee")
			if a.FinalCode != 200 || bs.State == "" {
				t.Fatalf("caller %+v\ncallee %+v", a, bs)
			}
			if tc.callerCodec != "" && (a.Codec != tc.callerCodec || bs.Codec != tc.calleeCodec) {
				t.Errorf("codecs: caller %s callee %s, want %s and %s", a.Codec, bs.Codec, tc.callerCodec, tc.calleeCodec)
			}
			gotA, _ := readPCM(t, recA)
			gotB, _ := readPCM(t, recB)
			if c, lag := correlate.Best(sigA, gotB, 8000); c < 0.9 {
				t.Errorf("callee heard the caller: correlation %.3f (lag %d, %d samples)", c, lag, len(gotB))
			}
			if c, lag := correlate.Best(sigB, gotA, 8000); c < 0.9 {
				t.Errorf("caller heard the callee: correlation %.3f (lag %d, %d samples)", c, lag, len(gotA))
			}

			row := cdrRow(t, srv, a.CallID)
			path, _ := row["recording_path"].(string)
			if !tc.record {
				if path != "" {
					t.Errorf("unexpected recording %s", path)
				}
				return
			}
			checkRecording(t, cfgDir, row, a, sigA, sigB)
		})
	}
}

func TestMediaEcho(t *testing.T) {
	srv, _ := startMediaPlan(t, 36500)
	dir := t.TempDir()
	sig := writeSignal(t, filepath.Join(dir, "a.wav"), 12000, 31)
	rec := filepath.Join(dir, "got.wav")
	p := startPhone(t, srv, "call", "777", "--user", "201", "--password", "a-long-passphrase-201",
		"--play", filepath.Join(dir, "a.wav"), "--record", rec, "--hangup-after", "2s")
	// /metrics counts the RTP of the PBX's own media (the echo) while the
	// call is up, not only once it ends.
	rtp := func() (in, out float64) {
		text := get(t, "http://"+srv.HTTP+"/metrics", "")
		return metricValue(t, text, "luapbx_rtp_packets_in_total"), metricValue(t, text, "luapbx_rtp_packets_out_total")
	}
	waitFor(t, 1500*time.Millisecond, "RTP counted while the echo call is up", func() bool {
		in, out := rtp()
		return in >= 10 && out >= 10
	})
	s := lastCall(t, p.wait(t), "caller")
	if s.FinalCode != 200 {
		t.Fatalf("echo call: %+v", s)
	}
	// Once ended, the counters hold what the phone sent and got (give or
	// take packets in flight at the hang-up).
	waitFor(t, 2*time.Second, "the echo's RTP counted after the call", func() bool {
		in, out := rtp()
		return in >= float64(s.Media.PacketsOut)-5 && out >= float64(s.Media.PacketsIn)
	})
	got, _ := readPCM(t, rec)
	if c, lag := correlate.Best(sig, got, 8000); c < 0.9 {
		t.Errorf("echo returned audio correlating %.3f (lag %d)", c, lag)
	}
}

// TestMediaRecordedEcho: record: true on a target the PBX answers itself
// records the call (the caller left, the echo right) and the CDR has it.
func TestMediaRecordedEcho(t *testing.T) {
	srv, cfgDir := startMediaPlan(t, 36800)
	dir := t.TempDir()
	sig := writeSignal(t, filepath.Join(dir, "a.wav"), 12000, 33)
	s := lastCall(t, startPhone(t, srv, "call", "778", "--user", "201", "--password", "a-long-passphrase-201",
		"--play", filepath.Join(dir, "a.wav"), "--hangup-after", "2s").wait(t), "caller")
	if s.FinalCode != 200 {
		t.Fatalf("echo call: %+v", s)
	}
	checkRecording(t, cfgDir, cdrRow(t, srv, s.CallID), s, sig, sig) // the echo on the right
}

// checkRecording checks the recording a CDR row names: stereo, as long as
// the caller (summary a) was answered within 0.1 s, left and right
// correlating piece by piece with what each side sent, with a sidecar.
func checkRecording(t *testing.T, cfgDir string, row map[string]any, a phone.Summary, left, right []int16) {
	t.Helper()
	path, _ := row["recording_path"].(string)
	if path == "" {
		t.Fatalf("no recording in the CDR row %v", row)
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(cfgDir, path)
	}
	pcm, format := readPCM(t, path)
	if format != wav.Stereo8k {
		t.Fatalf("recording format %v", format)
	}
	length := time.Duration(len(pcm)/2) * time.Second / 8000
	answered := time.Duration(a.DurationMS * float64(time.Millisecond))
	if d := math.Abs((length - answered).Seconds()); d > 0.1 {
		t.Errorf("recording lasts %v, the caller was answered %v", length, answered)
	}
	if c := pieceCorrelation(left, channel(pcm, 0)); c < 0.9 {
		t.Errorf("left channel vs caller: %.3f", c)
	}
	if c := pieceCorrelation(right, channel(pcm, 1)); c < 0.9 {
		t.Errorf("right channel: %.3f", c)
	}
	if _, err := os.Stat(strings.TrimSuffix(path, ".wav") + ".json"); err != nil {
		t.Errorf("no sidecar: %v", err)
	}
}

func TestMediaIVRToVoicemail(t *testing.T) {
	srv, dir := startMediaPlan(t, 36600) // a 1 s prompt; the key cuts it short
	audio := t.TempDir()
	sig := writeSignal(t, filepath.Join(audio, "a.wav"), 24000, 41)
	heard := filepath.Join(audio, "heard.wav")
	s := lastCall(t, startPhone(t, srv, "call", "700", "--user", "201", "--password", "a-long-passphrase-201",
		"--dtmf", "1", "--play", filepath.Join(audio, "a.wav"), "--record", heard, "--hangup-after", "4s").wait(t), "caller")
	if s.FinalCode != 200 {
		t.Fatalf("ivr call: %+v", s)
	}
	// 202's greeting played whole before the beep.
	got, _ := readPCM(t, heard)
	if c, _ := correlate.Best(correlate.TestSignal(8000, 42), got, len(got)); c < 0.9 {
		t.Errorf("the caller did not hear 202's greeting: correlation %.3f", c)
	}
	srv.WaitLog(t, "voicemail", 5*time.Second)
	var msgs []string
	deadline := time.Now().Add(5 * time.Second)
	for len(msgs) == 0 && time.Now().Before(deadline) {
		msgs, _ = filepath.Glob(filepath.Join(dir, "var/voicemail/202/*.wav"))
		time.Sleep(50 * time.Millisecond)
	}
	if len(msgs) != 1 {
		t.Fatalf("voicemail messages for 202: %v\n%s", msgs, srv.Logs())
	}
	pcm, format := readPCM(t, msgs[0])
	if format != wav.Mono8k {
		t.Fatalf("voicemail format %v", format)
	}
	// The caller talks from right after the key; the message starts after
	// the beep, so it holds the later part of what was sent.
	if c := pieceCorrelation(sig, pcm); c < 0.9 {
		t.Errorf("voicemail vs caller: correlation %.3f (%d samples)", c, len(pcm))
	}
	if _, err := os.Stat(strings.TrimSuffix(msgs[0], ".wav") + ".json"); err != nil {
		t.Errorf("no voicemail sidecar: %v", err)
	}
}

// A PBX killed mid-call leaves a recording that plays (the header is kept
// valid as the file grows) and, once started again, a call record of the
// interrupted call (from the journal of calls in progress).
func TestMediaRecordingSurvivesKill(t *testing.T) {
	srv, dir := startMediaPlan(t, 36700)
	audio := t.TempDir()
	writeSignal(t, filepath.Join(audio, "a.wav"), 40000, 51)
	b := startPhone(t, srv, "answer", "--user", "203", "--password", "a-long-passphrase-203")
	waitRegistered(t, srv, "203")
	a := startPhone(t, srv, "call", "203", "--user", "201", "--password", "a-long-passphrase-201",
		"--play", filepath.Join(audio, "a.wav"), "--hangup-after", "8s")
	var rec string
	deadline := time.Now().Add(10 * time.Second)
	for rec == "" && time.Now().Before(deadline) {
		found, _ := filepath.Glob(filepath.Join(dir, "var/recordings/*/*/*/*.wav"))
		if len(found) == 1 {
			rec = found[0]
		}
		time.Sleep(50 * time.Millisecond)
	}
	if rec == "" {
		t.Fatalf("no recording started\n%s", srv.Logs())
	}
	calls := liveCalls(t, srv)
	if len(calls) != 1 {
		t.Fatalf("calls up: %+v", calls)
	}
	time.Sleep(2500 * time.Millisecond) // over two header updates and journal writes
	srv.Signal(t, syscall.SIGKILL)
	for i := 0; i < 100 && !srv.Exited(); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	a.cancel()
	b.cancel()
	pcm, format := readPCM(t, rec)
	if format != wav.Stereo8k {
		t.Fatalf("format %v", format)
	}
	if secs := float64(len(pcm)/2) / 8000; secs < 1 || secs > 4 {
		t.Errorf("the killed recording plays %.2f s, want the 1-4 s recorded before the kill", secs)
	}

	// Started again, the PBX records the call the kill cut short.
	again := harness.Start(t, dir, "pbx.yaml")
	again.WaitLog(t, "the previous run stopped with calls up", 5*time.Second)
	again.WaitLog(t, "call_ids="+calls[0].CallID, time.Second)
	got := cdrRecord(t, "http://"+again.HTTP, calls[0].CallID)
	if got.Disposition != cdr.Answered || got.HangupBy != cdr.System || got.HangupCause != "interrupted" ||
		got.SIPCode != 200 || got.AnsweredBy != "203" {
		t.Errorf("interrupted call: %s, hangup by %s (%s), code %d, answered by %q; want answered by 203, "+
			"hung up by the system (interrupted), 200", got.Disposition, got.HangupBy, got.HangupCause, got.SIPCode, got.AnsweredBy)
	}
	if got.RecordingPath != rec {
		t.Errorf("interrupted call's recording %q, want %q", got.RecordingPath, rec)
	}
	// The last journal write came at most a second before the kill.
	if talk := got.End.Sub(got.Answer); talk < 1500*time.Millisecond || talk > 4*time.Second {
		t.Errorf("interrupted call talked %v by its record, want 1.5-4 s", talk)
	}
	if _, err := os.Stat(filepath.Join(dir, "var/cdr.db.interrupted.jsonl")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the interrupted calls' file stays after they were stored: %v", err)
	}
}
