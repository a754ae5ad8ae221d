package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandlerExposesMovingCounters(t *testing.T) {
	m := New()
	scrape := func() string {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		b, _ := io.ReadAll(rec.Body)
		return string(b)
	}
	before := scrape()
	if !strings.Contains(before, `luapbx_calls_total{disposition="answered"} 0`) {
		t.Fatalf("answered calls not pre-declared at 0:\n%s", before)
	}
	m.Calls.WithLabelValues("answered").Inc()
	m.Registrations.Set(3)
	after := scrape()
	for _, want := range []string{`luapbx_calls_total{disposition="answered"} 1`, "luapbx_registrations 3", "go_goroutines"} {
		if !strings.Contains(after, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
}
