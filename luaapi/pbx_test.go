package luaapi

import (
	"strings"
	"testing"
	"time"
)

func TestPbxLog(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"default info", `pbx.log("hello", 42, true, nil)`, `level=INFO msg="hello 42 true nil" script=l.lua line=1`},
		{"level", "\npbx.log('warn', 'crm', 'slow')", `level=WARN msg="crm slow" script=l.lua line=2`},
		{"level word alone", `pbx.log("error")`, `level=INFO msg=error`},
		{"debug", `pbx.log("DEBUG", "x")`, `level=DEBUG msg=x`},
		{"print", `print("a", "b")`, `level=INFO msg="a b" script=l.lua line=1`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			log, buf := bufLogger()
			if _, err := LoadSource("l.lua", tc.src, Options{Logger: log}); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(buf.String(), tc.want) {
				t.Fatalf("log = %q, want %q", buf.String(), tc.want)
			}
		})
	}
}

func TestPbxNow(t *testing.T) {
	at := time.Date(2026, 11, 23, 10, 0, 0, 250e6, time.UTC)
	src := `assert(pbx.now() == 1795428000.25, string.format("%.3f", pbx.now()))`
	if _, err := LoadSource("n.lua", src, Options{Now: func() time.Time { return at }}); err != nil {
		t.Fatal(err)
	}
}

func TestOptionsEvents(t *testing.T) {
	for _, mode := range []string{"", EventsIntegration, EventsAll} {
		if _, err := LoadSource("e.lua", "", Options{Events: mode}); err != nil {
			t.Errorf("%q: %v", mode, err)
		}
	}
	if _, err := LoadSource("e.lua", "", Options{Events: "some"}); err == nil {
		t.Error("events: some: want an error")
	}
}
