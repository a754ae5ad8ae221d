package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"luapbx/media/wav"
)

func mustLoad(t *testing.T, path string) *Config {
	t.Helper()
	cfg, err := Load(path)
	if err != nil {
		t.Fatalf("Load(%s): %v", path, err)
	}
	return cfg
}

func TestPathLines(t *testing.T) {
	dir := planDir(t)
	doc := `# line 1
companies:                  # 2
  - id: acme                # 3
    classes:                # 4
      mobile: "^3"          # 5
    extensions:             # 6
      - number: "201"       # 7
        password: alice201  # 8
        rights: [mobile]    # 9
    timetables:             # 10
      - id: office          # 11
        weekly:             # 12
          - days: mon-fri   # 13
            hours: "09:00-18:00" # 14
    rules:                  # 15
      - {name: m, called: "^3", target: "user:201"} # 16
      - name: n             # 17
        called: "^4"        # 18
        action: map         # 19
        map:                # 20
          to: "201"         # 21
`
	cfg := mustLoad(t, writeFile(t, dir, "pbx.yaml", doc))
	tests := []struct {
		path string
		line int
	}{
		{"", 1},
		{"companies", 2},
		{"companies[0]", 3},
		{"companies[0].id", 3},
		{"companies[0].classes.mobile", 5},
		{"companies[0].extensions[0]", 7},
		{"companies[0].extensions[0].password", 8},
		{"companies[0].extensions[0].rights[0]", 9},
		{"companies[0].timetables[0].weekly[0].days", 13},
		{"companies[0].timetables[0].weekly[0].hours", 14},
		{"companies[0].rules[0]", 16},
		{"companies[0].rules[0].target", 16},
		{"companies[0].rules[1].called", 18},
		{"companies[0].rules[1].map.to", 21},
		// not written: the nearest parent that is
		{"companies[0].rules[1].map.strip", 20},
		{"companies[0].rules[1].timetable", 17},
		{"companies[0].extensions[0].rights[7]", 9},
		{"companies[3].rules[0]", 2},
		{"listen.http", 1},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if got := cfg.Line(tt.path); got != tt.line {
				t.Errorf("Line(%q) = %d, want %d", tt.path, got, tt.line)
			}
		})
	}
}

func TestParent(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"companies[0].rules[2].called", "companies[0].rules[2]"},
		{"companies[0].rules[2]", "companies[0].rules"},
		{"companies[0]", "companies"},
		{"companies", ""},
		{"", ""},
	} {
		if got := parent(tt.in); got != tt.want {
			t.Errorf("parent(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDefaults(t *testing.T) {
	dir := planDir(t)
	doc := base + `    groups: [{number: "600", members: ["201"]}]
    ivrs: [{id: main, number: "700", prompt: prompts/welcome.wav, default: "user:201"}]
    trunks: [{id: p1, host: prov.example.com}]
    rules: [{name: r, called: "^3", target: "gateway:p1"}]
`
	cfg := mustLoad(t, writeFile(t, dir, "pbx.yaml", doc))
	wantListen := Listen{
		SIP: []string{"udp:127.0.0.1:5060", "tcp:127.0.0.1:5060"}, HTTP: "127.0.0.1:8080", RTPPorts: "20000-20999",
		SIPAddrs: []SIPAddr{{"udp", "127.0.0.1:5060"}, {"tcp", "127.0.0.1:5060"}}, RTPMin: 20000, RTPMax: 20999,
	}
	if !reflect.DeepEqual(cfg.Listen, wantListen) {
		t.Errorf("listen = %+v, want %+v", cfg.Listen, wantListen)
	}
	if s := cfg.Storage; s.CDR != "sqlite:var/cdr.db" || s.CDRDriver != "sqlite" || s.Recordings != "var/recordings" || s.Voicemail != "var/voicemail" ||
		s.Registrations != "var/registrations.json" || s.RegistrationsFile != filepath.Join(wd(t), "var", "registrations.json") {
		t.Errorf("storage = %+v", s)
	}
	if s := cfg.Scripts; s.Dir != "" || s.DirPath != dir || s.TimeoutMS != 50 || s.EventTimeoutMS != 2000 ||
		s.Events != "integration" || len(s.HTTPAllow) != 0 || s.Timeout() != 50*time.Millisecond || s.EventTimeout() != 2*time.Second {
		t.Errorf("scripts = %+v", s)
	}
	if want := (Security{5, 60, 600, 500, []string{"MD5"}, nil}); !reflect.DeepEqual(cfg.Security, want) {
		t.Errorf("security = %+v, want %+v", cfg.Security, want)
	}
	co := cfg.Companies[0]
	if co.Location != time.UTC {
		t.Errorf("location = %v, want UTC", co.Location)
	}
	if e := co.Extensions[0]; e.RingSeconds != 30 || e.MaxCalls != 0 || e.Voicemail != true || e.Fallback != "" {
		t.Errorf("extension = %+v", e)
	}
	if g := co.Groups[0]; g.Strategy != "ringall" || g.RingSeconds != 30 {
		t.Errorf("group = %+v", g)
	}
	if v := co.IVRs[0]; v.TimeoutSeconds != 5 {
		t.Errorf("ivr = %+v", v)
	}
	if tr := co.Trunks[0]; tr.Transport != "udp" || tr.Register || tr.MaxCalls != 0 {
		t.Errorf("trunk = %+v", tr)
	}
	if r := co.Rules[0]; !r.Enabled || r.Record || r.Integration || r.Calling != "" {
		t.Errorf("rule = %+v", r)
	}
	if len(cfg.Warnings) != 0 {
		t.Errorf("warnings: %v", cfg.Warnings)
	}
}

func TestExplicitValuesOverrideDefaults(t *testing.T) {
	dir := planDir(t)
	doc := base + `    rules: [{name: r, called: "^3", target: "user:201", enabled: false}]
listen: {http: "", sip: ["tcp:[::1]:5080"], rtp_ports: "30000-30099", public_ip: "203.0.113.7"}
scripts: {events: all, timeout_ms: 20, http_allow: [crm.example.com]}
security: {ban_after_failures: 0, max_calls: 0}
`
	cfg := mustLoad(t, writeFile(t, dir, "pbx.yaml", doc))
	if cfg.Companies[0].Rules[0].Enabled {
		t.Error("enabled: false was ignored")
	}
	l := cfg.Listen
	if l.HTTP != "" || !reflect.DeepEqual(l.SIPAddrs, []SIPAddr{{"tcp", "[::1]:5080"}}) || l.RTPMin != 30000 || l.RTPMax != 30099 || l.PublicIP != "203.0.113.7" {
		t.Errorf("listen = %+v", l)
	}
	if s := cfg.Scripts; s.Events != "all" || s.TimeoutMS != 20 || !slices.Equal(s.HTTPAllow, []string{"crm.example.com"}) {
		t.Errorf("scripts = %+v", s)
	}
	if s := cfg.Security; s.BanAfterFailures != 0 || s.MaxCalls != 0 || s.BanSeconds != 600 {
		t.Errorf("security = %+v", s)
	}
}

func TestRelativePaths(t *testing.T) {
	root := t.TempDir()
	confDir := filepath.Join(root, "conf")
	if err := os.MkdirAll(filepath.Join(confDir, "lua"), 0o755); err != nil {
		t.Fatal(err)
	}
	writePrompt(t, filepath.Join(confDir, "prompts", "hello.wav"), wav.Mono8k)
	writePrompt(t, filepath.Join(root, "abs.wav"), wav.Mono8k)
	abs := filepath.Join(root, "abs.wav")
	doc := base + `    ivrs:
      - {id: a, prompt: prompts/hello.wav, default: "user:201"}
      - {id: b, prompt: "` + abs + `", default: "play:prompts/hello.wav"}
scripts: {dir: lua}
storage: {cdr: "sqlite:var/cdr.db", recordings: rec, voicemail: "/srv/vm", registrations: state/regs.json}
`
	// Load through a relative name, from another working directory: script
	// and prompt paths follow the file, storage paths the working directory.
	t.Chdir(root)
	cfg := mustLoad(t, writeFile(t, "conf", "pbx.yaml", doc))
	if cfg.File != filepath.Join("conf", "pbx.yaml") || cfg.Dir != confDir {
		t.Errorf("file %q dir %q, want conf/pbx.yaml and %s", cfg.File, cfg.Dir, confDir)
	}
	if cfg.Scripts.Dir != "lua" || cfg.Scripts.DirPath != filepath.Join(confDir, "lua") {
		t.Errorf("scripts dir %q -> %q", cfg.Scripts.Dir, cfg.Scripts.DirPath)
	}
	ivrs := cfg.Companies[0].IVRs
	if ivrs[0].Prompt != "prompts/hello.wav" || ivrs[0].PromptPath != filepath.Join(confDir, "prompts", "hello.wav") {
		t.Errorf("prompt %q -> %q", ivrs[0].Prompt, ivrs[0].PromptPath)
	}
	if ivrs[1].PromptPath != abs {
		t.Errorf("absolute prompt -> %q, want %q", ivrs[1].PromptPath, abs)
	}
	if got := cfg.PromptPath("prompts/hello.wav"); got != filepath.Join(confDir, "prompts", "hello.wav") {
		t.Errorf("PromptPath = %q", got)
	}
	s := cfg.Storage
	if s.CDRDSN != "sqlite:"+filepath.Join(root, "var", "cdr.db") || s.RecordingsDir != filepath.Join(root, "rec") ||
		s.Recordings != "rec" || s.VoicemailDir != "/srv/vm" || s.RegistrationsFile != filepath.Join(root, "state", "regs.json") {
		t.Errorf("storage = %+v", s)
	}
}

func TestYAMLFeatures(t *testing.T) {
	dir := planDir(t)
	doc := `companies:
  - id: acme
    classes: {national: "^0", mobile: "^3", international: "^00"}
    extensions:
      - &ext {number: 201, password: alice201, voicemail: yes, rights: [mobile]}
      - {<<: *ext, number: 202, password: bobby202}
      - number: 0203
        password: carol203
        name: ~
    ivrs: [{id: main, prompt: prompts/welcome.wav, options: {1: "user:201", "#": "user:202"}}]
`
	cfg := mustLoad(t, writeFile(t, dir, "pbx.yaml", doc))
	co := cfg.Companies[0]
	var keys []string
	for _, e := range co.Classes {
		keys = append(keys, e.Key)
	}
	if !slices.Equal(keys, []string{"national", "mobile", "international"}) {
		t.Errorf("classes in order %v", keys)
	}
	if v, ok := co.Classes.Get("mobile"); !ok || v != "^3" {
		t.Errorf("Get(mobile) = %q, %v", v, ok)
	}
	e := co.Extensions
	if e[0].Number != "201" || !e[0].Voicemail {
		t.Errorf("extension 0 = %+v", e[0])
	}
	if e[1].Number != "202" || e[1].Password != "bobby202" || !e[1].Voicemail || !slices.Equal(e[1].Rights, []string{"mobile"}) {
		t.Errorf("merged extension = %+v", e[1])
	}
	if e[2].Number != "0203" || e[2].Name != "" {
		t.Errorf("numbers keep their leading zero: %+v", e[2])
	}
	if o := co.IVRs[0].Options; len(o) != 2 || o[0].Key != "1" || o[1].Key != "#" || o[1].Value != "user:202" {
		t.Errorf("options = %+v", o)
	}
}

func TestMergeBombIsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 {number: \"201\"}\n")
	for i := 1; i < 15; i++ {
		fmt.Fprintf(&b, "a%d: &a%d {<<: [", i, i)
		for j := 0; j < 9; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]}\n")
	}
	b.WriteString("companies: [{id: acme, extensions: [*a14]}]\n")
	start := time.Now()
	_, err := LoadBytes(filepath.Join(planDir(t), "pbx.yaml"), []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "document too large") {
		t.Fatalf("err = %v, want document too large", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestMergeTooDeep(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 {number: \"201\"}\n")
	for i := 1; i < 20; i++ {
		fmt.Fprintf(&b, "a%d: &a%d {<<: *a%d}\n", i, i, i-1)
	}
	b.WriteString("companies: [{id: acme, extensions: [*a19]}]\n")
	_, err := LoadBytes(filepath.Join(planDir(t), "pbx.yaml"), []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "<< merges nest too deep") {
		t.Fatalf("err = %v, want merges nest too deep", err)
	}
}

// wd is the working directory, against which storage paths resolve.
func wd(t *testing.T) string {
	t.Helper()
	d, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return d
}
