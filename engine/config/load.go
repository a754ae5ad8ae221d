package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"luapbx/engine/routing"
)

// DefaultPath is where the dial plan lives unless --config says otherwise.
const DefaultPath = "scripts/pbx.yaml"

// MaxFileSize bounds a config file.
const MaxFileSize = 16 << 20

// Load reads, parses and validates the dial plan at path. On failure the
// error is an Errors listing every problem at once; cfg is then nil.
// Warnings (weak passwords, rules that can tie) are in cfg.Warnings.
func Load(path string) (*Config, error) {
	fi, err := os.Stat(path)
	if err == nil && fi.Size() > MaxFileSize {
		err = fmt.Errorf("larger than %d bytes", MaxFileSize)
	}
	var data []byte
	if err == nil {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, Errors{{File: path, Msg: "cannot read the config: " + unwrapPathError(err).Error()}}
	}
	return LoadBytes(path, data)
}

// LoadBytes is Load on data already read; name is the file's path, used in
// messages and to resolve relative script and prompt paths.
func LoadBytes(name string, data []byte) (*Config, error) {
	rep := newReport(name)
	cfg := &Config{File: name}
	cfg.setDefaults()
	dir, err := filepath.Abs(filepath.Dir(name))
	if err != nil {
		return nil, Errors{{File: name, Msg: "cannot resolve the config's folder: " + err.Error()}}
	}
	cfg.Dir = dir
	root, ok := parseYAML(rep, data)
	if !ok {
		return nil, rep.errs
	}
	if root != nil {
		d := decoder{rep: rep, budget: budgetFor(root)}
		d.decode(root, reflect.ValueOf(cfg).Elem(), "")
	}
	cfg.lines = rep.lines
	validate(cfg, rep)
	if len(rep.errs) > 0 {
		rep.errs.sort()
		return nil, rep.errs
	}
	rep.warns.sort()
	cfg.Warnings = rep.warns
	return cfg, nil
}

// Router returns the router for this config, stamped with gen. The index
// built while validating is reused, so a reload builds it once.
func (c *Config) Router(gen uint64) (*routing.Router, error) {
	if c.router != nil {
		return c.router.WithGeneration(gen), nil
	}
	return routing.New(c.Plan(gen))
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML parses one YAML document. A nil node with ok means an empty file.
func parseYAML(rep *report, data []byte) (root *yaml.Node, ok bool) {
	defer func() {
		if p := recover(); p != nil { // the parser must not take the process down
			rep.errorAt(1, "", fmt.Sprintf("YAML parser failed: %v", p))
			root, ok = nil, false
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, true
		}
		syntaxError(rep, data, err)
		return nil, false
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		syntaxError(rep, data, err)
		return nil, false
	default:
		rep.errorAt(max(extra.Line, 1), "", "a second YAML document (---): put everything in one")
		return nil, false
	}
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			return nil, true
		}
		return doc.Content[0], true
	}
	return &doc, true
}

func syntaxError(rep *report, data []byte, err error) {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		// The parser names the line where the broken block starts; a line
		// indented deeper than the keys next to it is the usual cause.
		if bad := overIndented(data, line); bad > 0 {
			rep.errorAt(bad, "", "YAML syntax: "+m[2]+" (this line is indented more than the line above it)")
			return
		}
		rep.errorAt(line, "", "YAML syntax: "+m[2])
		return
	}
	rep.errorAt(1, "", "YAML syntax: "+strings.TrimPrefix(msg, "yaml: "))
}

// budgetFor bounds how many nodes decoding may visit: generous for anchors
// and merges used as templates, small enough to stop "billion laughs".
func budgetFor(root *yaml.Node) int {
	n := 0
	var count func(*yaml.Node)
	count = func(x *yaml.Node) {
		n++
		if x.Kind == yaml.AliasNode || n > MaxFileSize {
			return
		}
		for _, c := range x.Content {
			count(c)
		}
	}
	count(root)
	return 20*n + 10000
}

// overIndented returns the first line from line on that is indented deeper
// than the keys of the line before it although that line holds a complete
// "key: value" (so nothing may nest under it), or 0. "- key: value" puts
// its keys two columns in.
func overIndented(data []byte, line int) int {
	lines := strings.Split(string(data), "\n")
	prevCol := -1
	for i := max(line-1, 0); i < min(len(lines), line+50); i++ {
		text := strings.TrimRight(lines[i], " \t\r")
		trimmed := strings.TrimLeft(text, " ")
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		indent := len(text) - len(trimmed)
		if prevCol >= 0 && indent > prevCol {
			return i + 1
		}
		prevCol = -1
		body, item := strings.CutPrefix(trimmed, "- ")
		key, value, isKey := strings.Cut(stripComment(body), ":")
		value = strings.TrimSpace(value)
		open := strings.HasPrefix(value, "{") && !strings.HasSuffix(value, "}") ||
			strings.HasPrefix(value, "[") && !strings.HasSuffix(value, "]")
		if !isKey || strings.ContainsAny(key, "{[\"'") || value == "" || open ||
			strings.HasPrefix(value, "&") || strings.HasPrefix(value, "|") || strings.HasPrefix(value, ">") {
			continue
		}
		prevCol = indent
		if item {
			prevCol = indent + 2
		}
	}
	return 0
}

// stripComment drops a trailing " # comment" outside quotes.
func stripComment(s string) string {
	quote := byte(0)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#' && i > 0 && (s[i-1] == ' ' || s[i-1] == '\t'):
			return s[:i]
		}
	}
	return s
}
