package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"luapbx/media/correlate"
	"luapbx/media/wav"
)

// IVR bridge end to end: a caller answered by an IVR presses a key whose
// option is a user; the real binary rings that user like a normal call
// and, once it answers, relays the caller's audio (on the RTP port the
// IVR answered with, no re-INVITE) to it and back.

// ivrBridgePlan: 700 is an IVR (key 2: user 202, key 3: user 203, who is
// not registered), recorded by an explicit rule.
func ivrBridgePlan(rtpBase int) string {
	var exts strings.Builder
	for _, n := range []string{"201", "202", "203"} {
		fmt.Fprintf(&exts, "      - {number: %q, password: \"a-long-passphrase-%s\"}\n", n, n)
	}
	return fmt.Sprintf(`listen: {sip: ["udp:127.0.0.1:0"], http: "127.0.0.1:0", rtp_ports: "%d-%d"}
storage: {cdr: "sqlite:var/cdr.db", recordings: var/recordings, voicemail: var/voicemail}
security: {ban_after_failures: 0}
companies:
  - id: acme
    timezone: UTC
    extensions:
%s    ivrs:
      - {id: main, number: "700", prompt: prompt.wav, timeout_seconds: 5, options: {"2": "user:202", "3": "user:203"}}
    rules:
      - {name: menu, caller_type: internal, called: "^$700", action: route, target: "ivr:main", record: true}
`, rtpBase, rtpBase+99, exts.String())
}

// writeDelayed writes silence then sig as a prompt WAV.
func writeDelayed(t *testing.T, path string, silence time.Duration, sig []int16) {
	t.Helper()
	w, err := wav.Create(path, wav.Mono8k)
	if err != nil {
		t.Fatal(err)
	}
	pcm := append(make([]int16, int(silence*8000/time.Second)), sig...)
	if err := w.WriteSamples(pcm); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestIVRBridge(t *testing.T) {
	prompt := filepath.Join(t.TempDir(), "prompt.wav")
	writeSignal(t, prompt, 4000, 70) // a 0.5 s menu; the key cuts it short
	raw, err := os.ReadFile(prompt)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("user answers", func(t *testing.T) {
		srv, dir := startPlan(t, ivrBridgePlan(37800), map[string]string{"prompt.wav": string(raw)})
		sigA, sigB := correlate.TestSignal(12000, 71), correlate.TestSignal(12000, 72)
		// The caller talks once its choice is bridged (after the key and
		// the ring); the callee from its answer.
		writeDelayed(t, filepath.Join(dir, "a.wav"), 1500*time.Millisecond, sigA)
		writeDelayed(t, filepath.Join(dir, "b.wav"), 200*time.Millisecond, sigB)
		recA, recB := filepath.Join(dir, "got-a.wav"), filepath.Join(dir, "got-b.wav")

		b := startPhone(t, srv, "answer", "--user", "202", "--password", "a-long-passphrase-202",
			"--play", filepath.Join(dir, "b.wav"), "--record", recB)
		waitRegistered(t, srv, "202")
		a := lastCall(t, startPhone(t, srv, "call", "700", "--user", "201", "--password", "a-long-passphrase-201",
			"--dtmf", "2", "--play", filepath.Join(dir, "a.wav"), "--record", recA, "--hangup-after", "6s").wait(t), "caller")
		bs := lastCall(t, b.wait(t), "callee")
		if a.FinalCode != 200 || a.State != "completed" || a.HangupBy != "local" || bs.FinalCode != 200 || bs.HangupBy != "remote" {
			t.Fatalf("caller %+v\ncallee %+v", a, bs)
		}
		invites := 0
		for _, c := range a.Codes {
			if c.Method == "INVITE" && c.Dir == "in" && c.Code == 200 {
				invites++
			}
		}
		if invites != 1 {
			t.Errorf("the caller saw %d answers to INVITEs: %+v", invites, a.Codes)
		}
		gotA, _ := readPCM(t, recA)
		gotB, _ := readPCM(t, recB)
		if c, lag := correlate.Best(sigA, gotB, 4*8000); c < 0.9 {
			t.Errorf("callee heard the caller: correlation %.3f (lag %d, %d samples)", c, lag, len(gotB))
		}
		if c, lag := correlate.Best(sigB, gotA, 4*8000); c < 0.9 {
			t.Errorf("caller heard the callee: correlation %.3f (lag %d, %d samples)", c, lag, len(gotA))
		}
		row := cdrRow(t, srv, a.CallID)
		if row["target"] != "user:202" || row["disposition"] != "answered" || row["hangup_by"] != "caller" {
			t.Errorf("CDR row %v", row)
		}
		path, _ := row["recording_path"].(string)
		if path == "" {
			t.Fatalf("no recording in the CDR row %v", row)
		}
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		if pcm, format := readPCM(t, path); format != wav.Stereo8k || len(pcm) < 2*8000*2 {
			t.Errorf("recording %v of %d samples", format, len(pcm))
		}
	})

	t.Run("user not registered", func(t *testing.T) {
		srv, _ := startPlan(t, ivrBridgePlan(37900), map[string]string{"prompt.wav": string(raw)})
		a := lastCall(t, startPhone(t, srv, "call", "700", "--user", "201", "--password", "a-long-passphrase-201",
			"--dtmf", "3").wait(t), "caller")
		// Answered by the IVR, then hung up by the PBX: 203 cannot be reached.
		if a.FinalCode != 200 || a.State != "completed" || a.HangupBy != "remote" {
			t.Fatalf("caller %+v", a)
		}
		row := cdrRow(t, srv, a.CallID)
		if row["target"] != "user:203" || row["disposition"] != "no_answer" || row["hangup_by"] != "system" {
			t.Errorf("CDR row %v", row)
		}
	})
}
