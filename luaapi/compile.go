package luaapi

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

// script is one compiled file.
type script struct {
	path  string // as shown in errors: dir joined with the file name
	proto *lua.FunctionProto
}

// listScripts returns the *.lua files of dir in name order.
func listScripts(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("scripts folder: %w", err)
	}
	var names []string
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".lua") || strings.HasPrefix(name, ".") {
			continue
		}
		regular := e.Type().IsRegular()
		if e.Type()&fs.ModeSymlink != 0 { // e.g. a Kubernetes ConfigMap
			fi, err := os.Stat(filepath.Join(dir, name))
			regular = err == nil && fi.Mode().IsRegular()
		}
		if regular {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names, nil
}

// compileFile compiles one file once; its source name (used in every error
// and traceback) is path.
func compileFile(path string) (*lua.FunctionProto, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return compileSource(path, src)
}

func compileSource(name string, src []byte) (*lua.FunctionProto, error) {
	chunk, err := parse.Parse(bytes.NewReader(src), name)
	if err != nil {
		var pe *parse.Error
		if errors.As(err, &pe) {
			line := pe.Pos.Line
			if line < 0 { // at EOF
				line = bytes.Count(src, []byte{'\n'}) + 1
				return nil, posError(name, line, "%s at end of file", pe.Message)
			}
			return nil, posError(name, line, "%s near '%s'", pe.Message, pe.Token)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	proto, err := lua.Compile(chunk, name)
	if err != nil {
		var ce *lua.CompileError
		if errors.As(err, &ce) {
			return nil, posError(name, ce.Line, "%s", ce.Message)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return proto, nil
}

// compileDir compiles every script of dir.
func compileDir(dir string) ([]script, error) {
	names, err := listScripts(dir)
	if err != nil {
		return nil, err
	}
	var errs []error
	scripts := make([]script, 0, len(names))
	for _, n := range names {
		path := filepath.Join(dir, n)
		proto, err := compileFile(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		scripts = append(scripts, script{path: path, proto: proto})
	}
	return scripts, errors.Join(errs...)
}
