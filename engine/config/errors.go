package config

import (
	"fmt"
	"sort"
	"strings"
)

// Problem is one error or warning in a config file.
type Problem struct {
	File string
	Line int    // 0 when the problem is not about one line (the file cannot be read)
	Path string // config path, "companies[0].rules[2].called"; "" for the whole file
	Msg  string
}

// Error renders the problem as `file:line: path: message`.
func (p *Problem) Error() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	b.WriteString(": ")
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Errors is every problem found, sorted by line. Print one per line and exit 1.
type Errors []*Problem

// Error joins the problems, one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Lines returns each problem rendered as `file:line: path: message`.
func (es Errors) Lines() []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Error()
	}
	return out
}

func (es Errors) sort() {
	sort.SliceStable(es, func(i, j int) bool { return es[i].Line < es[j].Line })
}

// report collects problems while a file is loaded.
type report struct {
	file  string
	lines map[string]int
	errs  Errors
	warns Errors
	at    map[string]bool // paths with a structural error, to drop follow-on errors
}

func newReport(file string) *report {
	return &report{file: file, lines: map[string]int{"": 1}, at: map[string]bool{}}
}

// errorf records an error at path, on the line of path's node, unless the
// node at path (or a parent) was unusable: that error was reported already.
func (r *report) errorf(path, format string, args ...any) {
	if r.reported(path) {
		return
	}
	r.errorAt(lineOf(r.lines, path), path, fmt.Sprintf(format, args...))
}

func (r *report) errorAt(line int, path, msg string) {
	r.errs = append(r.errs, &Problem{File: r.file, Line: line, Path: path, Msg: msg})
}

// badNode records a structural error (wrong type, unknown key): the
// value at path is unusable, so later checks under it are not reported.
func (r *report) badNode(line int, path, msg string) {
	r.errorAt(line, path, msg)
	r.at[path] = true
}

func (r *report) warnf(path, format string, args ...any) {
	r.warns = append(r.warns, &Problem{File: r.file, Line: lineOf(r.lines, path), Path: path, Msg: fmt.Sprintf(format, args...)})
}

// reported tells whether path or one of its parents has a structural error.
func (r *report) reported(path string) bool {
	for {
		if r.at[path] {
			return true
		}
		if path == "" {
			return false
		}
		path = parent(path)
	}
}

// lineOf finds the line of path, or of its nearest parent; 1 when none.
func lineOf(lines map[string]int, path string) int {
	for {
		if l, ok := lines[path]; ok && l > 0 {
			return l
		}
		if path == "" {
			return 1
		}
		path = parent(path)
	}
}

// parent drops the last element of a path: "a.b[2]" -> "a.b" -> "a" -> "".
func parent(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndexByte(path, '['); i >= 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }
