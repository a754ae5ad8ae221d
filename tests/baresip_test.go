package tests

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"luapbx/engine/cdr"
	"luapbx/media/wav"
	"luapbx/tests/harness"

	"go.yaml.in/yaml/v3"
)

// The two softphones' "microphones": ausine tones on exact 50 Hz bins of a
// 20 ms block, far apart, so each side can tell its peer's tone from its own.
const (
	aliceHz = 700.0
	bobHz   = 1300.0
)

// baresipPlan has the shipped plan's phones 201 and 202 (passwords filled
// in by shippedPasswords), records calls to 202, and has a voice menu on
// 700 whose option 1 is the echo app. Fixed ports are safe: each test runs
// in a network namespace of its own.
const baresipPlan = `listen: {sip: ["udp:127.0.0.1:5060"], http: "127.0.0.1:8080", rtp_ports: "20000-20099"}
storage: {cdr: "sqlite:var/cdr.db", recordings: var/recordings}
security: {ban_after_failures: 0, max_calls: 10}
companies:
  - id: acme
    timezone: Europe/Rome
    extensions:
      - {number: "201", name: Alice, password: "%s"}
      - {number: "202", name: Bob, password: "%s"}
    ivrs:
      - {id: menu, number: "700", prompt: prompt.wav, timeout_seconds: 20, options: {"1": "app:echo"}, default: "reject:486"}
    rules:
      - {name: bob-recorded, caller_type: internal, called: "^$202", action: route, target: "user:202", record: true}
`

// The voice menu's prompt: a second of this tone.
const promptHz = 400.0

// shippedPasswords reads the passwords of 201 and 202 from the shipped
// scripts/pbx.yaml: the ones the README tells people to log phones in with.
func shippedPasswords(t *testing.T) map[string]string {
	t.Helper()
	var plan struct {
		Companies []struct {
			Extensions []struct {
				Number   string `yaml:"number"`
				Password string `yaml:"password"`
			} `yaml:"extensions"`
		} `yaml:"companies"`
	}
	if err := yaml.Unmarshal([]byte(mustRead(t, filepath.Join(harness.RepoRoot(), "scripts", "pbx.yaml"))), &plan); err != nil {
		t.Fatalf("scripts/pbx.yaml: %v", err)
	}
	pw := map[string]string{}
	for _, c := range plan.Companies {
		for _, e := range c.Extensions {
			pw[e.Number] = e.Password
		}
	}
	if pw["201"] == "" || pw["202"] == "" {
		t.Fatalf("scripts/pbx.yaml has no passwords for 201 and 202: %v", pw)
	}
	return pw
}

// startBaresipPBX starts luapbx on baresipPlan and its prompt; it returns
// the phones' passwords.
func startBaresipPBX(t *testing.T) (*harness.Server, map[string]string) {
	t.Helper()
	pw := shippedPasswords(t)
	dir := t.TempDir()
	harness.WriteFile(t, dir, "pbx.yaml", fmt.Sprintf(baresipPlan, pw["201"], pw["202"]))
	w, err := wav.Create(filepath.Join(dir, "prompt.wav"), wav.Mono8k)
	if err != nil {
		t.Fatal(err)
	}
	tone := make([]int16, 8000)
	for i := range tone {
		tone[i] = int16(8000 * math.Sin(2*math.Pi*promptHz*float64(i)/8000))
	}
	if err := w.WriteSamples(tone); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return harness.Start(t, dir, "pbx.yaml"), pw
}

// startAlice and startBob are baresips registering as 201 and 202.
func startAlice(t *testing.T, srv *harness.Server, pw map[string]string) *harness.Baresip {
	t.Helper()
	return harness.StartBaresip(t, harness.BaresipOptions{User: "201", Password: pw["201"], Registrar: srv.SIP["udp"],
		SIPPort: 5100, CtrlPort: 4441, RTPPorts: "10000-10099", ToneHz: aliceHz})
}

func startBob(t *testing.T, srv *harness.Server, pw map[string]string) *harness.Baresip {
	t.Helper()
	return harness.StartBaresip(t, harness.BaresipOptions{User: "202", Password: pw["202"], Registrar: srv.SIP["udp"],
		SIPPort: 5200, CtrlPort: 4442, RTPPorts: "10100-10199", ToneHz: bobHz})
}

// Two real softphones (baresip) register as 201 and 202 with their
// passwords, 201 calls 202, 202 answers; each hears the other's tone
// through the PBX's anchored relay (and not its own), DTMF goes both ways
// as RFC 4733 events, the recording holds each side on its channel, and
// the call record says answered.
func TestBaresip(t *testing.T) {
	t.Parallel()
	harness.BaresipBinary(t)
	if !harness.Netns(t, 60*time.Second) {
		return
	}
	srv, pw := startBaresipPBX(t)
	alice, bob := startAlice(t, srv, pw), startBob(t, srv, pw)

	t.Run("register", func(t *testing.T) {
		for _, p := range []struct {
			user string
			b    *harness.Baresip
		}{{"201", alice}, {"202", bob}} {
			waitBaresipRegistered(t, srv, p.user, p.b)
		}
	})
	if t.Failed() {
		return
	}

	alice.Command(t, "dial", "202")
	in := bob.WaitEvent(t, "CALL_INCOMING", 5*time.Second)
	if !strings.Contains(in.PeerURI, "201") {
		t.Errorf("202 rings for %q, want a call from 201", in.PeerURI)
	}
	bob.Command(t, "accept", "")
	alice.WaitEvent(t, "CALL_ESTABLISHED", 5*time.Second)
	bob.WaitEvent(t, "CALL_ESTABLISHED", 5*time.Second)
	answered := time.Now()
	if calls := liveCalls(t, srv); len(calls) != 1 || calls[0].From != "201" || calls[0].To != "202" {
		t.Errorf("/api/calls during the call: %+v, want one call 201 -> 202", calls)
	}

	time.Sleep(1500 * time.Millisecond)
	t.Run("dtmf", func(t *testing.T) {
		// One digit each way, sent as RFC 4733 events through the relay.
		for _, c := range []struct {
			from, to *harness.Baresip
			name     string
			digit    string
		}{{alice, bob, "201 -> 202", "5"}, {bob, alice, "202 -> 201", "#"}} {
			c.from.Command(t, "sndcode", c.digit)
			ev, ok := c.to.PollEvent("CALL_DTMF_START", 3*time.Second)
			if !ok {
				t.Errorf("%s: digit %s never arrived", c.name, c.digit)
				continue
			}
			if ev.Param != c.digit {
				t.Errorf("%s: sent %q, received %q", c.name, c.digit, ev.Param)
			}
		}
	})
	time.Sleep(1500 * time.Millisecond)
	alice.Command(t, "hangup", "")
	talk := time.Since(answered)
	alice.WaitEvent(t, "CALL_CLOSED", 5*time.Second)
	bob.WaitEvent(t, "CALL_CLOSED", 5*time.Second)

	rec := baresipCDR(t, srv, talk)
	checkBaresipMetrics(t, srv, talk)
	// sndfile completes its WAV headers when the stream closes; stopping
	// baresip guarantees that.
	alice.Stop(t)
	bob.Stop(t)
	t.Run("audio", func(t *testing.T) {
		minTone := time.Duration(float64(talk) * 0.7)
		checkTone(t, "202 hears 201", readMono(t, bob.Dump(t, "dec")), aliceHz, bobHz, minTone)
		checkTone(t, "201 hears 202", readMono(t, alice.Dump(t, "dec")), bobHz, aliceHz, minTone)
	})
	t.Run("recording", func(t *testing.T) {
		checkBaresipRecording(t, rec, talk)
	})
}

// A real softphone in the voice menu: 201 dials 700, hears the prompt,
// presses 1 (an RFC 4733 event the PBX must detect), and the option's echo
// app sends her own tone back.
func TestBaresipIVR(t *testing.T) {
	t.Parallel()
	harness.BaresipBinary(t)
	if !harness.Netns(t, 60*time.Second) {
		return
	}
	srv, pw := startBaresipPBX(t)
	alice := startAlice(t, srv, pw)
	waitBaresipRegistered(t, srv, "201", alice)

	alice.Command(t, "dial", "700")
	alice.WaitEvent(t, "CALL_ESTABLISHED", 5*time.Second)
	time.Sleep(1500 * time.Millisecond) // the one-second prompt plays out
	alice.Command(t, "sndcode", "1")
	time.Sleep(2 * time.Second) // her tone comes back
	alice.Command(t, "hangup", "")
	alice.WaitEvent(t, "CALL_CLOSED", 5*time.Second)

	var got struct{ Records []cdr.Record }
	waitFor(t, 5*time.Second, "the call record", func() bool {
		got.Records = nil
		getJSON(t, srv, "/api/cdr", &got)
		return len(got.Records) == 1
	})
	if r := got.Records[0]; r.Disposition != cdr.Answered || r.Dialled != "700" || r.Target != "ivr:menu" || r.HangupBy != cdr.Caller {
		t.Errorf("call record: disposition %s, dialled %s, target %s, hung up by %s; want answered 700 ivr:menu by caller (201 sent the BYE)",
			r.Disposition, r.Dialled, r.Target, r.HangupBy)
	}
	if !regexp.MustCompile(`msg="ivr choice".* digits=1 .*target=app:echo`).MatchString(srv.Logs()) {
		t.Errorf("the PBX logged no IVR choice of 1 -> app:echo")
	}

	alice.Stop(t)
	// The dump holds what arrived, back to back: the gap while the menu
	// waited for a digit is not in it, so only the order can be checked.
	heard := readMono(t, alice.Dump(t, "dec"))
	promptShare, promptMS := toneShare(heard, promptHz)
	echoShare, echoMS := toneShare(heard, aliceHz)
	_, promptEnd := toneSpan(heard, promptHz)
	echoStart, _ := toneSpan(heard, aliceHz)
	t.Logf("201 heard the prompt for %d ms (%.3f of the energy), then her echo for %d ms (%.3f)", promptMS, promptShare, echoMS, echoShare)
	if promptMS < 800 {
		t.Errorf("201 heard %d ms of the one-second prompt", promptMS)
	}
	if echoMS < 1200 {
		t.Errorf("201 heard %d ms of her echo in the 2 s after pressing 1, want >= 1200", echoMS)
	}
	if echoMS > 0 && echoStart < promptEnd {
		t.Errorf("her echo started (%s into what she heard) before the prompt ended (%s)", echoStart, promptEnd)
	}
}

// waitBaresipRegistered waits until the PBX lists user's contact, and
// tells why when baresip gave up.
func waitBaresipRegistered(t *testing.T, srv *harness.Server, user string, b *harness.Baresip) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		var regs struct {
			Extensions []struct {
				AOR       string `json:"aor"`
				UserAgent string `json:"user_agent"`
			} `json:"extensions"`
		}
		getJSON(t, srv, "/api/registrations", &regs)
		for _, r := range regs.Extensions {
			if r.AOR == user {
				t.Logf("%s registered (%s), digest answered with %s", user, r.UserAgent, digestAlgorithm(b.Logs()))
				return
			}
		}
		if m := regFailure.FindStringSubmatch(b.Logs()); m != nil {
			baresipRegisterFailed(t, user, m[1], b.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s not registered at the PBX after 5s", user)
}

// regFailure is baresip's "reg: sip:201@...: Register: <reason>" line.
var regFailure = regexp.MustCompile(`reg: \S+: Register: ([^\r\n\x1b]+)`)

func baresipRegisterFailed(t *testing.T, user, reason, logs string) {
	t.Helper()
	if reason == "Function not implemented" && strings.Contains(logs, "algorithm=SHA-256") {
		// libre 1.1.0 (under baresip 1.0.0, Debian 12) runs through every
		// WWW-Authenticate and gives up with ENOSYS at any algorithm but
		// MD5, instead of answering the first one it supports (RFC 8760
		// §2.4); it never sends an Authorization.
		t.Fatalf("%s cannot register: baresip 1.0.0 rejects the PBX's 401 because it carries an algorithm=SHA-256 challenge "+
			"(its libre answers MD5 only and fails with ENOSYS on any other, even next to an MD5 one); "+
			"with the README's password a baresip phone cannot log in until the PBX offers it an MD5-only challenge", user)
	}
	t.Fatalf("%s: baresip failed to register: %s", user, reason)
}

var digestAlg = regexp.MustCompile(`(?m)^Authorization: Digest .*`)

// digestAlgorithm reads baresip's SIP trace for the algorithm of its first
// Authorization (none named means MD5).
func digestAlgorithm(logs string) string {
	h := digestAlg.FindString(logs)
	if h == "" {
		return "no Authorization header"
	}
	if m := regexp.MustCompile(`algorithm="?([A-Za-z0-9-]+)`).FindStringSubmatch(h); m != nil {
		return m[1]
	}
	return "MD5 (no algorithm parameter)"
}

// baresipCDR waits for the call's record and checks it.
func baresipCDR(t *testing.T, srv *harness.Server, talk time.Duration) cdr.Record {
	t.Helper()
	var got struct{ Records []cdr.Record }
	waitFor(t, 5*time.Second, "the call record", func() bool {
		resp, err := http.Get("http://" + srv.HTTP + "/api/cdr")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		got.Records = nil
		return json.NewDecoder(resp.Body).Decode(&got) == nil && len(got.Records) == 1
	})
	r := got.Records[0]
	if r.Disposition != cdr.Answered || r.SIPCode != 200 || r.From != "201" || r.Dialled != "202" ||
		r.Rule != "bob-recorded" || r.HangupBy != cdr.Caller {
		t.Errorf("call record: disposition %s, code %d, %s -> %s, rule %s, hung up by %s; want answered 200 201 -> 202 bob-recorded by caller",
			r.Disposition, r.SIPCode, r.From, r.Dialled, r.Rule, r.HangupBy)
	}
	if d := r.End.Sub(r.Answer); math.Abs((d - talk).Seconds()) > 0.5 {
		t.Errorf("call record: answered for %s, the phones talked for %s", d, talk)
	}
	return r
}

// checkBaresipMetrics checks that the relay counted both directions'
// packets: 50 a second each way, so at least most of 2 x 50 x talk (the
// counters add a relay's packets when it ends: give it a moment).
func checkBaresipMetrics(t *testing.T, srv *harness.Server, talk time.Duration) {
	t.Helper()
	want := 0.8 * 2 * 50 * talk.Seconds()
	var in, out, lost float64
	deadline := time.Now().Add(3 * time.Second)
	for {
		text := get(t, "http://"+srv.HTTP+"/metrics", "")
		in, out = metricValue(t, text, "luapbx_rtp_packets_in_total"), metricValue(t, text, "luapbx_rtp_packets_out_total")
		lost = metricValue(t, text, "luapbx_rtp_lost_packets_total")
		if in >= want && out >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("relay after %s of two-way audio: %.0f packets in, %.0f out, %.0f lost", talk.Round(time.Millisecond), in, out, lost)
	if in < want || out < want {
		t.Errorf("the relay counted %.0f packets in and %.0f out, want at least %.0f each", in, out, want)
	}
	if lost > 5 {
		t.Errorf("luapbx_rtp_lost_packets_total = %.0f on loopback", lost)
	}
}

func metricValue(t *testing.T, text, name string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("/metrics has no %s", name)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("/metrics %s: %v", name, err)
	}
	return v
}

// checkBaresipRecording checks the stereo WAV: caller left (201's tone),
// callee right (202's tone), as long as the call.
func checkBaresipRecording(t *testing.T, rec cdr.Record, talk time.Duration) {
	t.Helper()
	path := rec.RecordingPath
	if path == "" {
		t.Fatal("the call record has no recording path")
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pcm, format, err := wav.ReadPCM(f)
	if err != nil {
		t.Fatalf("recording: %v", err)
	}
	if format.Channels != 2 || format.SampleRate != 8000 {
		t.Fatalf("recording is %s, want 8 kHz stereo", format)
	}
	left, right := make([]int16, len(pcm)/2), make([]int16, len(pcm)/2)
	for i := range left {
		left[i], right[i] = pcm[2*i], pcm[2*i+1]
	}
	length, answered := time.Duration(len(left))*time.Second/8000, rec.End.Sub(rec.Answer)
	t.Logf("recording: %s, answered for %s", length, answered)
	if math.Abs((length - answered).Seconds()) > 0.1 {
		t.Errorf("recording lasts %s, the call was answered for %s (call record)", length, answered)
	}
	minTone := time.Duration(float64(talk) * 0.7)
	checkTone(t, "recording, left (caller)", left, aliceHz, bobHz, minTone)
	checkTone(t, "recording, right (callee)", right, bobHz, aliceHz, minTone)
}

func readMono(t *testing.T, path string) []int16 {
	t.Helper()
	pcm, format := readPCM(t, path)
	if format.Channels != 1 || format.SampleRate != 8000 {
		t.Fatalf("%s is %s, want 8 kHz mono", path, format)
	}
	return pcm
}

// checkTone checks that pcm carries the tone want (at least minTone of it,
// and most of the energy of every block that has sound) and not other.
func checkTone(t *testing.T, what string, pcm []int16, want, other float64, minTone time.Duration) {
	t.Helper()
	wantShare, toneMS := toneShare(pcm, want)
	otherShare, _ := toneShare(pcm, other)
	tone := time.Duration(toneMS) * time.Millisecond
	t.Logf("%s: %.0f Hz holds %.3f of the energy (%s of tone), %.0f Hz %.3f", what, want, wantShare, tone, other, otherShare)
	if wantShare < 0.9 || otherShare > 0.05 || tone < minTone {
		t.Errorf("%s: %.0f Hz holds %.3f of the energy over %s of tone, %.0f Hz %.3f; want >= 0.9 over >= %s, and <= 0.05",
			what, want, wantShare, tone, other, otherShare, minTone.Round(time.Millisecond))
	}
}

// toneShare cuts pcm into 20 ms blocks (160 samples: 50 Hz bins) and
// returns, over the blocks with sound (RMS above -40 dBFS), the share of
// their energy at hz (Goertzel), and the milliseconds of blocks where hz
// holds at least 90% of it.
func toneShare(pcm []int16, hz float64) (share float64, toneMS int) {
	const n = 160
	coeff := 2 * math.Cos(2*math.Pi*hz/8000)
	var atHz, total float64
	for start := 0; start+n <= len(pcm); start += n {
		var s1, s2, energy float64
		for _, v := range pcm[start : start+n] {
			x := float64(v)
			s1, s2 = x+coeff*s1-s2, s1
			energy += x * x
		}
		if math.Sqrt(energy/n) < 328 { // -40 dBFS: silence or noise
			continue
		}
		p := (s1*s1 + s2*s2 - coeff*s1*s2) / (energy * n / 2)
		atHz += p * energy
		total += energy
		if p >= 0.9 {
			toneMS += 20
		}
	}
	if total == 0 {
		return 0, 0
	}
	return atHz / total, toneMS
}

// toneSpan returns the start of the first and the end of the last 20 ms
// block where hz holds at least 90% of the energy (zero when none).
func toneSpan(pcm []int16, hz float64) (first, last time.Duration) {
	const n = 160
	found := false
	for start := 0; start+n <= len(pcm); start += n {
		if _, ms := toneShare(pcm[start:start+n], hz); ms > 0 {
			at := time.Duration(start) * time.Second / 8000
			if !found {
				first, found = at, true
			}
			last = at + 20*time.Millisecond
		}
	}
	return first, last
}

// The tone check the baresip tests rely on: it finds a tone, rejects
// another, ignores silence, bridges silent gaps (lost packets) and weighs
// a mix by energy.
func TestBaresipToneCheck(t *testing.T) {
	sine := func(hz float64, ms int) []int16 {
		s := make([]int16, ms*8)
		for i := range s {
			s[i] = int16(9000 * math.Sin(2*math.Pi*hz*float64(i)/8000))
		}
		return s
	}
	withGap := append(append(sine(aliceHz, 500), make([]int16, 800)...), sine(aliceHz, 500)...)
	for _, c := range []struct {
		name      string
		pcm       []int16
		hz        float64
		minShare  float64
		maxShare  float64
		wantTone  int // ms
		tolerance int
	}{
		{"the tone", sine(aliceHz, 1000), aliceHz, 0.99, 1, 1000, 0},
		{"another tone", sine(bobHz, 1000), aliceHz, 0, 0.01, 0, 0},
		{"silence", make([]int16, 8000), aliceHz, 0, 0, 0, 0},
		{"the tone with a gap", withGap, aliceHz, 0.95, 1, 1000, 20},
		{"two tones mixed", func() []int16 {
			a, b := sine(aliceHz, 1000), sine(bobHz, 1000)
			for i := range a {
				a[i] = a[i]/2 + b[i]/2
			}
			return a
		}(), aliceHz, 0.45, 0.55, 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			share, ms := toneShare(c.pcm, c.hz)
			if share < c.minShare || share > c.maxShare || ms < c.wantTone-c.tolerance || ms > c.wantTone+c.tolerance {
				t.Errorf("share %.3f, %d ms of tone; want %.2f..%.2f and %d±%d ms", share, ms, c.minShare, c.maxShare, c.wantTone, c.tolerance)
			}
		})
	}
}
