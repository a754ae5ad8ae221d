package mediacall

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"luapbx/engine"
	"luapbx/engine/apps"
	"luapbx/engine/call"
	"luapbx/engine/phone"
	"luapbx/engine/routing"
	"luapbx/media/correlate"
	"luapbx/media/player"
	"luapbx/media/sdpneg"
)

// fakeLeg is a caller whose media is a real engine/phone RTP media: the
// SIP part is replaced by direct calls.
type fakeLeg struct {
	t        *testing.T
	media    phone.Media
	answered chan struct{}
	done     chan struct{}
	hungUp   chan struct{}
	once     sync.Once
}

func newFakeLeg(t *testing.T, mo phone.MediaOptions) *fakeLeg {
	t.Helper()
	f, err := phone.RTPMedia(mo)
	if err != nil {
		t.Fatal(err)
	}
	m, err := f(netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return &fakeLeg{t: t, media: m, answered: make(chan struct{}), done: make(chan struct{}), hungUp: make(chan struct{})}
}

func (f *fakeLeg) Offer() []byte {
	return fmt.Appendf(nil, "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"+
		"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n", f.media.Port())
}

func (f *fakeLeg) Answer(ctx context.Context, body []byte) error {
	s, err := sdpneg.Parse(body)
	if err != nil {
		return err
	}
	ev := -1
	if s.Media.EventPT != 0 {
		ev = int(s.Media.EventPT)
	}
	close(f.answered)
	return f.media.Start(ctx, phone.Session{Remote: s.Media.Addr, PayloadType: s.Media.Codec(), EventsPT: ev})
}

func (f *fakeLeg) Hangup()               { f.once.Do(func() { close(f.hungUp) }) }
func (f *fakeLeg) Done() <-chan struct{} { return f.done }

// hangupAfter makes the caller hang up d after the answer.
func (f *fakeLeg) hangupAfter(d time.Duration) {
	go func() {
		select {
		case <-f.answered:
		case <-time.After(10 * time.Second):
		}
		select {
		case <-time.After(d):
		case <-f.hungUp:
		}
		close(f.done)
	}()
}

func newAnchor(t testing.TB, tweak func(*Options)) *Anchor {
	t.Helper()
	o := Options{IP: netip.MustParseAddr("127.0.0.1"), Ports: "32000-32999", RTPTimeout: 10 * time.Second,
		VoicemailDir: t.TempDir()}
	if tweak != nil {
		tweak(&o)
	}
	a, err := New(testLog(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

func serve(t *testing.T, a *Anchor, leg *fakeLeg, target string) int {
	t.Helper()
	tg, err := routing.ParseTarget(target)
	if err != nil {
		t.Fatal(err)
	}
	c := &call.Call{ID: "call-" + t.Name(), Company: "acme", From: "201", To: "800", Start: time.Now()}
	a.opts.Leg = func(*call.Call) (CallerLeg, bool) { return leg, true }
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	code, next := a.Serve(ctx, c, tg)
	if next != nil {
		t.Errorf("serve %s led on to %s", target, next)
	}
	return code
}

func TestEcho(t *testing.T) {
	sig := correlate.TestSignal(8000, 21)
	rec := filepath.Join(t.TempDir(), "echo.wav")
	a := newAnchor(t, nil)
	leg := newFakeLeg(t, phone.MediaOptions{Play: sig, Record: rec})
	leg.hangupAfter(1500 * time.Millisecond)
	if code := serve(t, a, leg, "app:echo"); code != 0 {
		t.Fatalf("serve: %d", code)
	}
	_ = leg.media.Close()
	got, _ := readWAV(t, rec)
	if c, _ := correlate.Best(sig, got, 1600); c < 0.9 {
		t.Fatalf("echo correlation %.3f", c)
	}
	if a.InUse() != 0 {
		t.Errorf("%d ports in use", a.InUse())
	}
}

func TestIVRChoice(t *testing.T) {
	prompts := map[string][]int16{
		"menu": player.Tone([]float64{440}, 200*time.Millisecond),
		"one":  correlate.TestSignal(6000, 31),
		"two":  correlate.TestSignal(6000, 32),
	}
	tweak := func(o *Options) {
		o.Prompt = func(name string) (*player.Prompt, error) {
			if pcm, ok := prompts[name]; ok {
				return player.NewPrompt(name, pcm), nil
			}
			return nil, os.ErrNotExist
		}
		o.IVR = func(company, id string) (apps.IVRConfig, bool) {
			if company != "acme" || id != "main" {
				return apps.IVRConfig{}, false
			}
			return apps.IVRConfig{ID: id, Prompt: player.NewPrompt("menu", prompts["menu"]),
				Options: map[string]string{"1": "play:one", "2": "play:two"}, Default: "play:one"}, true
		}
	}
	for _, tc := range []struct{ digit, want, other string }{{"2", "two", "one"}, {"1", "one", "two"}} {
		t.Run(tc.digit, func(t *testing.T) {
			a := newAnchor(t, tweak)
			rec := filepath.Join(t.TempDir(), "ivr.wav")
			leg := newFakeLeg(t, phone.MediaOptions{DTMF: tc.digit, Record: rec})
			leg.hangupAfter(5 * time.Second) // the PBX hangs up first, after the prompt
			if code := serve(t, a, leg, "ivr:main"); code != 0 {
				t.Fatalf("serve: %d", code)
			}
			select {
			case <-leg.hungUp:
			default:
				t.Error("the PBX did not hang up after the prompt")
			}
			_ = leg.media.Close()
			got, _ := readWAV(t, rec)
			want, _ := correlate.Best(prompts[tc.want], got, 16000)
			other, _ := correlate.Best(prompts[tc.other], got, 16000)
			if want < 0.9 || other > 0.5 {
				t.Fatalf("heard %s %.3f, %s %.3f", tc.want, want, tc.other, other)
			}
		})
	}
}

func TestVoicemail(t *testing.T) {
	sig := correlate.TestSignal(3*8000, 41)
	events := make(chan map[string]any, 4)
	a := newAnchor(t, func(o *Options) {
		o.Events = func(ev engine.Event) { events <- ev.Data }
	})
	leg := newFakeLeg(t, phone.MediaOptions{Play: sig})
	leg.hangupAfter(3200 * time.Millisecond)
	if code := serve(t, a, leg, "voicemail:202"); code != 0 {
		t.Fatalf("serve: %d", code)
	}
	files, _ := filepath.Glob(filepath.Join(a.opts.VoicemailDir, "202", "*.wav"))
	if len(files) != 1 {
		t.Fatalf("voicemail files %v", files)
	}
	got, _ := readWAV(t, files[0])
	if c, _ := correlate.Best(sig, got, 8000); c < 0.9 {
		t.Fatalf("voicemail correlation %.3f (%d samples)", c, len(got))
	}
	select {
	case d := <-events:
		if d["path"] != files[0] || d["extension"] != "202" {
			t.Errorf("voicemail.new %v", d)
		}
	default:
		t.Error("no voicemail.new event")
	}
}

func TestServeRejects(t *testing.T) {
	a := newAnchor(t, nil)
	c := &call.Call{ID: "x", Company: "acme"}
	for _, tc := range []struct {
		target string
		leg    bool
		want   int
	}{
		{"app:echo", false, 501},
		{"voicemail:202", false, 480},
		{"ivr:main", true, 501},   // no IVR config source
		{"play:hello", true, 501}, // no prompt loader
	} {
		t.Run(tc.target, func(t *testing.T) {
			a.opts.Leg = nil
			if tc.leg {
				leg := newFakeLeg(t, phone.MediaOptions{})
				a.opts.Leg = func(*call.Call) (CallerLeg, bool) { return leg, true }
			}
			tg, err := routing.ParseTarget(tc.target)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := a.Serve(context.Background(), c, tg); got != tc.want {
				t.Errorf("got %d want %d", got, tc.want)
			}
		})
	}
}
