package luaapi

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []string // substrings of the error
	}{
		{"syntax error", map[string]string{"a.lua": "x = 1\nfunction on_route(\n  retrun 1\nend\n"},
			[]string{"a.lua:3:"}},
		{"syntax error at end", map[string]string{"a.lua": "function on_route(c, d)\n"},
			[]string{"a.lua:2:", "end of file"}},
		{"top-level runtime error", map[string]string{"a.lua": "local x = nil\nlocal y = x.field\n"},
			[]string{"a.lua:2:", "attempt to index"}},
		{"top-level error()", map[string]string{"a.lua": "\n\nerror('no config')\n"},
			[]string{"a.lua:3:", "no config"}},
		{"top-level endless loop", map[string]string{"a.lua": "while true do end\n"},
			[]string{"a.lua:1:", "top-level code ran past"}},
		{"duplicate hook", map[string]string{
			"a.lua": "function on_route(c, d) end\n",
			"b.lua": "\n\nfunction on_route(c, d) return nil end\n"},
			[]string{"b.lua:3:", "on_route is already defined in", "a.lua:1"}},
		{"duplicate on_event", map[string]string{
			"10-x.lua": "on_event = function(ev) end\n",
			"20-y.lua": "function on_event(ev) end\n"},
			[]string{"20-y.lua:1:", "10-x.lua:1"}},
		{"hook not a function", map[string]string{"a.lua": "on_map = 'nope'\n"},
			[]string{"a.lua:1:", "on_map must be a function"}},
		{"two bad files", map[string]string{"a.lua": "x = \n", "b.lua": "y = = 2\n"},
			[]string{"a.lua:", "b.lua:1:"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(writeScripts(t, tc.files), Options{LoadTimeout: 50 * time.Millisecond})
			if err == nil {
				t.Fatal("Load succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadOrderAndHooks(t *testing.T) {
	dir := writeScripts(t, map[string]string{
		"b.lua":     "order = order .. 'b'\nfunction helper() return 'from b' end\n",
		"a.lua":     "order = 'a'\n",
		"c.lua":     "order = order .. 'c'\n\nfunction on_route(call, d)\n  return {target = 'user:' .. #order}\nend\n",
		"notes.txt": "this is not lua",
		"d.lua":     "function on_map(call, number, rule) return helper() and number end\n",
	})
	if err := os.Mkdir(filepath.Join(dir, "sub.lua"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A symlinked script (ConfigMap style) loads; a dangling link and a
	// hidden editor file do not.
	other := writeScripts(t, map[string]string{"e.lua": "function on_offhours(c, d) end\n"})
	if err := os.Symlink(filepath.Join(other, "e.lua"), filepath.Join(dir, "e.lua")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(other, "missing.lua"), filepath.Join(dir, "f.lua")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".#a.lua"), []byte("this is not lua"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Load(dir, Options{Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var names []string
	for _, f := range p.Files() {
		names = append(names, filepath.Base(f))
	}
	if want := []string{"a.lua", "b.lua", "c.lua", "d.lua", "e.lua"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("files = %v, want %v", names, want)
	}
	hooks := p.Hooks()
	if len(hooks) != 3 || !strings.HasSuffix(hooks["on_route"], "c.lua:3") || !strings.HasSuffix(hooks["on_map"], "d.lua:1") {
		t.Fatalf("hooks = %v", hooks)
	}
	ch, err := p.Route(testCall(), testDecision())
	if err != nil || ch.Target != "user:3" { // "abc" loaded in name order
		t.Fatalf("Route = %+v, %v", ch, err)
	}
	if p.Empty() {
		t.Fatal("Empty with two hooks")
	}
}

func TestLoadEmptyAndMissing(t *testing.T) {
	p, err := Load(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if !p.Empty() {
		t.Fatal("no scripts: want Empty")
	}
	ch, err := p.Route(testCall(), testDecision())
	if err != nil || !ch.Empty() {
		t.Fatalf("Route with no hooks = %+v, %v", ch, err)
	}
	if n, err := p.Map(testCall(), "123", "r"); err != nil || n != "123" {
		t.Fatalf("Map with no hooks = %q, %v", n, err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing"), Options{}); err == nil {
		t.Fatal("missing folder: want an error")
	}
	if _, err := Load(t.TempDir(), Options{HTTPAllow: []string{"http://x/"}}); err == nil {
		t.Fatal("bad http_allow: want an error")
	}
}

func TestSplitPos(t *testing.T) {
	tests := []struct {
		in, file, text string
		line           int
		ok             bool
	}{
		{"a.lua:12: boom", "a.lua", "boom", 12, true},
		{"/x/y/routing.lua:3: attempt to index a nil value", "/x/y/routing.lua", "attempt to index a nil value", 3, true},
		{"C:\\s\\a.lua:7: x", "C:\\s\\a.lua", "x", 7, true},
		{"context deadline exceeded", "", "context deadline exceeded", 0, false},
		{"a.lua:x: y", "", "a.lua:x: y", 0, false},
		{":5: y", "", ":5: y", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			f, l, text, ok := splitPos(tc.in)
			if f != tc.file || l != tc.line || text != tc.text || ok != tc.ok {
				t.Fatalf("splitPos = %q %d %q %v", f, l, text, ok)
			}
		})
	}
}
