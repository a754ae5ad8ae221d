package sdpneg

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseRewrite: any input either fails to parse or produces SDP (offer,
// rewrite and answer) that we parse back with our address and port.
func FuzzParseRewrite(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.sdp"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed corpus: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	want := netip.AddrPortFrom(pbx.IP, uint16(pbx.Port))
	f.Fuzz(func(t *testing.T, body []byte) {
		s, err := Parse(body)
		if err != nil {
			if StatusCode(err) != 400 && StatusCode(err) != 488 {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		o := NewOrigin("")
		build := []func() ([]byte, error){
			func() ([]byte, error) { return s.Rewrite(o, pbx) },
			func() ([]byte, error) { return s.Offer(o, pbx) },
			func() ([]byte, error) { b, _, err := s.Answer(o, pbx, AnswerOptions{}); return b, err },
		}
		for i, fn := range build {
			out, err := fn()
			if err != nil {
				t.Fatalf("builder %d failed on parsed input: %v", i, err)
			}
			back, err := Parse(out)
			if err != nil {
				t.Fatalf("builder %d output does not parse: %v\n%q", i, err, out)
			}
			if back.Media.Addr != want {
				t.Fatalf("builder %d output addr %v, want %v", i, back.Media.Addr, want)
			}
			if len(back.Media.Codecs) == 0 || len(back.Media.Codecs) > 2 {
				t.Fatalf("builder %d output codecs %v", i, back.Media.Codecs)
			}
		}
	})
}
