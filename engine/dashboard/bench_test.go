package dashboard

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"luapbx/engine/registrar"
)

// BenchmarkRender renders the sections (what each open dashboard asks for
// every 2 s) for a busy PBX: 100 live calls, 500 registrations, 20 recent
// calls with explanations.
func BenchmarkRender(b *testing.B) {
	f := fullFixture(b)
	for i := range 100 {
		c := f.calls[0]
		c.CallID, c.From = fmt.Sprintf("c%d@pbx", i), fmt.Sprint(200+i)
		f.calls = append(f.calls, c)
	}
	for i := range 500 {
		f.exts = append(f.exts, registrar.Binding{AOR: fmt.Sprint(1000 + i), ContactURI: "sip:x@10.0.0.9", Expires: t0.Add(time.Hour)})
	}
	for len(f.recent) < 20 {
		f.recent = append(f.recent, f.recent[0])
	}
	h := New(f.source())
	for _, target := range []string{"/", "/?partial=1"} {
		b.Run(target, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, target, nil)
			b.ReportAllocs()
			for b.Loop() {
				rr := httptest.NewRecorder()
				h.ServeHTTP(rr, req)
				if rr.Code != 200 {
					b.Fatal(rr.Code)
				}
			}
		})
	}
}
