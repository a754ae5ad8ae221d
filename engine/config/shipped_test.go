package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"luapbx/media/wav"
)

const shipped = "../../scripts/pbx.yaml"

// checkShipped asserts a copy of the shipped plan loads cleanly and passes
// every one of its tests without Lua.
func checkShipped(t *testing.T, cfg *Config) {
	t.Helper()
	if len(cfg.Warnings) != 0 {
		t.Errorf("the shipped plan has warnings:\n%v", cfg.Warnings)
	}
	r, err := cfg.Router(1)
	if err != nil {
		t.Fatalf("router: %v", err)
	}
	res := RunTests(cfg, r, nil)
	if len(res) < 12 {
		t.Errorf("only %d tests in the shipped plan", len(res))
	}
	for _, tr := range res {
		if !tr.Pass {
			t.Errorf("%s", tr.Text())
		}
	}
}

// TestShippedPlanRouting checks the shipped rules and tests against
// generated prompts, so it does not depend on scripts/prompts.
func TestShippedPlanRouting(t *testing.T) {
	data, err := os.ReadFile(shipped)
	if err != nil {
		t.Fatal(err)
	}
	checkShipped(t, mustLoad(t, writeFile(t, planDir(t), "pbx.yaml", string(data))))
}

// TestShippedPlanInPlace loads scripts/pbx.yaml where it ships, with its
// real prompts.
func TestShippedPlanInPlace(t *testing.T) {
	cfg := mustLoad(t, shipped)
	abs, err := filepath.Abs(filepath.Dir(shipped))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Scripts.DirPath != abs {
		t.Errorf("scripts dir %s, want %s", cfg.Scripts.DirPath, abs)
	}
	checkShipped(t, cfg)
}

func BenchmarkLoadShipped(b *testing.B) {
	data, err := os.ReadFile(shipped)
	if err != nil {
		b.Fatal(err)
	}
	path := writeFile(b, planDir(b), "pbx.yaml", string(data))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load(path); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDesignExample loads the example of DESIGN.md (the contract), with
// the extension 202 it names but does not define.
func TestDesignExample(t *testing.T) {
	data, err := os.ReadFile("testdata/design_example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := planDir(t)
	writePrompt(t, filepath.Join(dir, "welcome.wav"), wav.Mono8k)
	cfg := mustLoad(t, writeFile(t, dir, "pbx.yaml", string(data)))
	want := "pbx.yaml:13: companies[0].extensions[0].password: weak password for extension 201: it is one of the first passwords attackers try (phones on the internet get guessed)"
	if len(cfg.Warnings) != 1 || strings.TrimPrefix(cfg.Warnings[0].Error(), dir+"/") != want {
		t.Errorf("warnings %v, want %s", cfg.Warnings, want)
	}
	co := cfg.Companies[0]
	if tr := co.Trunks[0]; !tr.Register || tr.MaxCalls != 30 || tr.InboundIPs[0] != "127.0.0.1" {
		t.Errorf("trunk %+v", tr)
	}
	if r := co.Rules[2]; r.Map == nil || r.Map.Strip != 9 || r.Map.Prepend != "20" || !r.Record || !r.Integration || r.Timetable != "office" {
		t.Errorf("did-root rule %+v", r)
	}
	r, err := cfg.Router(1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range RunTests(cfg, r, nil) {
		if !tr.Pass {
			t.Errorf("%s", tr.Text())
		}
	}
}
