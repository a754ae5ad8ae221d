package luaapi

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrTimeout is wrapped by a HookError when a hook ran past its budget.
var ErrTimeout = errors.New("timed out")

// ErrBusy is wrapped by a HookError when a hook could not start because
// every slot stayed taken for a whole budget.
var ErrBusy = errors.New("too many hooks running")

// HookError is a failed hook: a Lua error, a timeout or a value of the wrong
// type. It reads "file:line: message"; the router adds the hook name.
type HookError struct {
	Hook string // on_route, on_map, on_offhours, on_event
	File string
	Line int
	Msg  string
	Err  error // ErrTimeout, ErrBusy or nil
}

func (e *HookError) Error() string {
	if e.File == "" {
		return e.Msg
	}
	return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Msg
}

func (e *HookError) Unwrap() error { return e.Err }

// splitPos splits a Lua error message "file:line: text" into its parts; ok
// is false when msg carries no position.
func splitPos(msg string) (file string, line int, text string, ok bool) {
	// file names may contain ':' (Windows drives); the line is the last
	// ":digits:" before the text.
	for i := 0; i < len(msg); i++ {
		if msg[i] != ':' {
			continue
		}
		j := i + 1
		for j < len(msg) && msg[j] >= '0' && msg[j] <= '9' {
			j++
		}
		if j == i+1 || j >= len(msg) || msg[j] != ':' {
			continue
		}
		n, err := strconv.Atoi(msg[i+1 : j])
		if err != nil || i == 0 {
			continue
		}
		return msg[:i], n, strings.TrimSpace(msg[j+1:]), true
	}
	return "", 0, msg, false
}

// posError builds "file:line: message" errors for loading.
func posError(file string, line int, format string, args ...any) error {
	return &HookError{File: file, Line: line, Msg: fmt.Sprintf(format, args...)}
}
