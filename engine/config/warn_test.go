package config

import (
	"strings"
	"testing"
)

func TestWeakness(t *testing.T) {
	tests := []struct {
		number, name, password string
		want                   string
	}{
		{"201", "Alice", "alice201", ""},
		{"201", "Alice", "Tr0ub4dor&3", ""},
		{"201", "Alice", "201", "it equals the extension number"},
		{"201", "Alice", "password", "it is one of the first passwords attackers try"},
		{"201", "Alice", "S3CRET", "it is one of the first passwords attackers try"},
		{"201", "Alexandria", "alexandria", "it equals the extension's name"},
		{"201", "Alice", "pw201", "it is little more than the extension number"},
		{"201", "Alice", "x7#kQ", "it is shorter than 8 characters"},
		{"201", "Alice", "zzzzzzzzzz", "it repeats one character"},
	}
	for _, tt := range tests {
		t.Run(tt.password, func(t *testing.T) {
			if got := weakness(tt.number, tt.name, tt.password); got != tt.want {
				t.Errorf("weakness(%q) = %q, want %q", tt.password, got, tt.want)
			}
		})
	}
}

func TestWeakPasswordWarnings(t *testing.T) {
	dir := planDir(t)
	doc := base + `      - {number: "202", password: "202"}
      - {number: "203", ha1: "0123456789abcdef0123456789abcdef"}
`
	cfg := mustLoad(t, writeFile(t, dir, "pbx.yaml", doc))
	var got []string
	for _, w := range cfg.Warnings {
		got = append(got, strings.TrimPrefix(w.Error(), dir+"/"))
	}
	want := []string{"pbx.yaml:5: companies[0].extensions[1].password: weak password for extension 202: it equals the extension number (phones on the internet get guessed)"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestTieWarnings(t *testing.T) {
	dir := planDir(t)
	doc := base + `    rules:
      - {name: first, called: "^3", target: "user:201"}
      - {name: other, called: "^4", target: "user:201"}
      - {name: second, caller_type: internal, called: "^3", target: "voicemail:201"}
      - {name: timed, called: "^3", target: "user:201", timetable: office}
    timetables: [{id: office, weekly: [{days: mon-fri, hours: "09:00-18:00"}]}]
`
	cfg := mustLoad(t, writeFile(t, dir, "pbx.yaml", doc))
	var got []string
	for _, w := range cfg.Warnings {
		got = append(got, strings.TrimPrefix(w.Error(), dir+"/"))
	}
	want := []string{"pbx.yaml:8: companies[0].rules[2]: rule second can tie with rule first (line 6): " +
		"called ^3 and ^3 can match the same number with the same specificity, calling % and % likewise; first wins because it is written first"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
