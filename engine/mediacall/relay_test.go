package mediacall

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"luapbx/engine/apps"
	"luapbx/engine/call"
	"luapbx/engine/phone"
	"luapbx/engine/routing"
	"luapbx/media/correlate"
	"luapbx/media/recorder"
	"luapbx/media/wav"
)

// channel extracts one channel of interleaved stereo.
func channel(pcm []int16, ch int) []int16 {
	out := make([]int16, 0, len(pcm)/2)
	for i := ch; i < len(pcm); i += 2 {
		out = append(out, pcm[i])
	}
	return out
}

func TestAnchoredCall(t *testing.T) {
	tests := []struct {
		name         string
		callerCodecs []uint8
		calleeCodecs []uint8
		record       bool
		dtmf         string
		wantA, wantB string
	}{
		{name: "pcmu both ways", wantA: "PCMU", wantB: "PCMU"},
		{name: "pcmu caller to pcma callee", callerCodecs: []uint8{0}, calleeCodecs: []uint8{8}, wantA: "PCMU", wantB: "PCMA"},
		{name: "recorded", record: true, wantA: "PCMU", wantB: "PCMU"},
		{name: "dtmf to a pcma callee", callerCodecs: []uint8{0}, calleeCodecs: []uint8{8}, dtmf: "19#", wantA: "PCMU", wantB: "PCMA"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPBX(t, nil)
			p.snap.setDecide(func(c *routing.Call) routing.Decision {
				return routing.Decision{Target: routing.Target{Kind: routing.TargetUser, Arg: c.To}, Number: c.To,
					Rule: "internal", Record: tc.record}
			})
			dir := t.TempDir()
			sigA, sigB := correlate.TestSignal(8000, 11), correlate.TestSignal(8000, 12)
			recA, recB := filepath.Join(dir, "a.wav"), filepath.Join(dir, "b.wav")
			b := p.phone("202", phone.MediaOptions{Play: sigB, Record: recB}, tc.calleeCodecs...)
			wait := p.callee("202", b, phone.AnswerOptions{})
			mo := phone.MediaOptions{Play: sigA, Record: recA}
			if tc.dtmf != "" {
				mo = phone.MediaOptions{DTMF: tc.dtmf}
			}
			a := p.phone("201", mo, tc.callerCodecs...)
			s := p.call(a, "202", phone.CallOptions{HangupAfter: 1500 * time.Millisecond})
			bs := wait()
			if s.FinalCode != 200 || s.Codec != tc.wantA || bs.Codec != tc.wantB {
				t.Fatalf("final %d, caller codec %q callee codec %q (%s %s)", s.FinalCode, s.Codec, bs.Codec, s.Error, bs.Error)
			}
			if tc.dtmf != "" {
				if bs.Media.DTMF != tc.dtmf {
					t.Errorf("callee got digits %q, want %q", bs.Media.DTMF, tc.dtmf)
				}
				p.waitEnd()
				p.idlePorts()
				return
			}
			for who, st := range map[string]phone.MediaStats{"caller": s.Media, "callee": bs.Media} {
				if st.PacketsOut != 50 || st.PacketsIn < 48 || st.Lost > 2 {
					t.Errorf("%s stats %+v", who, st)
				}
			}
			gotB, _ := readWAV(t, recB)
			gotA, _ := readWAV(t, recA)
			if c, _ := correlate.Best(sigA, gotB, 1600); c < 0.9 {
				t.Errorf("callee heard the caller: correlation %.3f", c)
			}
			if c, _ := correlate.Best(sigB, gotA, 1600); c < 0.9 {
				t.Errorf("caller heard the callee: correlation %.3f", c)
			}
			e := p.waitEnd()
			p.idlePorts()
			path := recorder.Path(p.anchor.opts.RecordingsDir, e.Call.Start, e.Call.ID)
			if !tc.record {
				if _, err := os.Stat(path); !os.IsNotExist(err) {
					t.Errorf("unexpected recording: %v", err)
				}
				return
			}
			checkRecording(t, path, e.End.Sub(e.Answered), sigA, sigB)
			var side apps.Recording
			raw, err := os.ReadFile(apps.SidecarPath(path))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(raw, &side); err != nil {
				t.Fatal(err)
			}
			if side.CallID != e.Call.ID || side.Rule != "internal" || side.Generation != 7 || side.Explanation != "fake explanation" {
				t.Errorf("sidecar %+v", side)
			}
			select {
			case ev := <-p.events:
				if ev.Type != "recording.done" || ev.Data["path"] != path {
					t.Errorf("event %+v", ev)
				}
			case <-time.After(time.Second):
				t.Error("no recording.done event")
			}
		})
	}
}

func checkRecording(t *testing.T, path string, answered time.Duration, sigA, sigB []int16) {
	t.Helper()
	pcm, format := readWAV(t, path)
	if format != wav.Stereo8k {
		t.Fatalf("recording format %+v", format)
	}
	length := time.Duration(len(pcm)/2) * time.Second / 8000
	if d := math.Abs((length - answered).Seconds()); d > 0.1 {
		t.Errorf("recording %v, call answered %v", length, answered)
	}
	// media/recorder places frames by arrival time: on this loaded
	// machine a late packet shifts the rest of its channel by a frame, so
	// the channels are compared in 250 ms pieces (see pieces).
	if c := pieces(sigA, channel(pcm, 0)); c < 0.9 {
		t.Errorf("left channel vs caller: median %.3f", c)
	}
	if c := pieces(sigB, channel(pcm, 1)); c < 0.9 {
		t.Errorf("right channel vs callee: median %.3f", c)
	}
}

func TestRTPTimeoutHangsUp(t *testing.T) {
	hung := make(chan string, 2)
	p := newPBX(t, func(o *Options) {
		o.RTPTimeout = 300 * time.Millisecond
		o.Hangup = func(c *call.Call, cause string) { hung <- c.ID + " " + cause }
	})
	b := p.phone("202", phone.MediaOptions{})
	wait := p.callee("202", b, phone.AnswerOptions{})
	a := p.phone("201", phone.MediaOptions{})
	start := time.Now()
	s := p.call(a, "202", phone.CallOptions{HangupAfter: 1500 * time.Millisecond})
	wait()
	e := p.waitEnd()
	select {
	case got := <-hung:
		if got != e.Call.ID+" rtp_timeout" || s.FinalCode != 200 {
			t.Errorf("hangup %q for call %s", got, e.Call.ID)
		}
		if el := time.Since(start); el < 300*time.Millisecond {
			t.Errorf("hung up after %v", el)
		}
	default:
		t.Error("silent call was not hung up")
	}
	p.idlePorts()
}
