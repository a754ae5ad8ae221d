// Package luaapi runs the Lua scripts of a scripts folder as the engine's
// Policy: routing hooks (on_route, on_map, on_offhours) on a pool of
// sandboxed gopher-lua states, and on_event on a bounded queue off the call
// path. REFERENCE.md documents what scripts see; README.md the Go side.
package luaapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"

	"luapbx/engine"
)

var _ engine.Policy = (*Program)(nil)

// hook names a global function the Program calls.
type hook uint8

const (
	hookRoute hook = iota
	hookMap
	hookOffhours
	hookEvent
	numHooks
)

var hookNames = [numHooks]string{"on_route", "on_map", "on_offhours", "on_event"}

func (h hook) String() string { return hookNames[h] }

// site is where a hook is defined.
type site struct {
	file string
	line int
}

// Program is the compiled scripts of one config snapshot with their state
// pool, kv store and event queue. Its methods are safe for concurrent use.
type Program struct {
	opts    Options
	log     *slog.Logger
	scripts []script
	sites   [numHooks]site // zero file: hook not defined

	sem  chan struct{} // routing hooks running
	free *freeList     // idle states

	kv     *KV
	testKV *KV // what test calls (tests:) read and write: never the live store
	client *http.Client
	allow  allowList

	queues []chan engine.Event // one per worker; a call's events share one
	stop   chan struct{}
	base   context.Context // cancelled when Close gives up draining
	cancel context.CancelFunc
	wg     sync.WaitGroup // event workers

	build       chan struct{}   // wakes the builder: the free list ran dry
	buildCtx    context.Context // cancelled by Close: stops a build under way
	buildCancel context.CancelFunc
	buildErr    atomic.Pointer[string] // the builder's last failure, "" after a success
	buildTime   atomic.Int64           // how long the last build took (ns), see buildsFast
	bwg         sync.WaitGroup         // the builder
	closeOnce   sync.Once
	closed      atomic.Bool // Close began: Emit drops, no background builds
	retired     atomic.Bool // Close is over: put closes states

	st counters
}

// Load compiles every *.lua file of dir, in name order, once, and builds a
// Program around them. Errors read "file:line: message": syntax errors,
// errors in top-level code, and a hook defined by two files.
func Load(dir string, opts Options) (*Program, error) {
	scripts, err := compileDir(dir)
	if err != nil {
		return nil, err
	}
	return newProgram(scripts, opts)
}

// LoadSource builds a Program from one in-memory script named name (tests,
// examples).
func LoadSource(name, src string, opts Options) (*Program, error) {
	proto, err := compileSource(name, []byte(src))
	if err != nil {
		return nil, err
	}
	return newProgram([]script{{path: name, proto: proto}}, opts)
}

func newProgram(scripts []script, opts Options) (*Program, error) {
	opts = opts.withDefaults()
	if opts.Events != EventsIntegration && opts.Events != EventsAll {
		return nil, fmt.Errorf("scripts.events: %q (want %s or %s)", opts.Events, EventsIntegration, EventsAll)
	}
	allow, err := parseAllow(opts.HTTPAllow)
	if err != nil {
		return nil, err
	}
	p := &Program{
		opts:    opts,
		log:     opts.Logger,
		scripts: scripts,
		sem:     make(chan struct{}, opts.Concurrency),
		free:    newFreeList(opts.Concurrency + opts.Workers),
		kv:      opts.KV,
		testKV:  NewKV(DefaultKVMaxEntries),
		allow:   allow,
		stop:    make(chan struct{}),
		build:   make(chan struct{}, 1),
	}
	p.client = newHTTPClient(allow)
	p.base, p.cancel = context.WithCancel(context.Background())
	p.buildCtx, p.buildCancel = context.WithCancel(p.base)
	first, err := p.newState(p.base, true)
	if err != nil {
		p.buildCancel()
		p.cancel()
		return nil, err
	}
	p.put(first)
	p.bwg.Add(1)
	go p.builder()
	p.wantState() // spares before the first calls (a burst after a reload)
	if p.sites[hookEvent].file != "" {
		p.queues = make([]chan engine.Event, opts.Workers)
		p.wg.Add(opts.Workers)
		for i := range p.queues {
			// Each worker's queue holds its share of QueueSize: a call
			// whose on_event is slow fills its own worker's queue only,
			// never the room of the calls on the other workers.
			p.queues[i] = make(chan engine.Event, queueShare(opts.QueueSize, opts.Workers))
			go p.worker(p.queues[i])
		}
	}
	return p, nil
}

// KV is the Program's key-value store; pass it in the next Program's
// Options to keep it across a reload.
func (p *Program) KV() *KV { return p.kv }

// KVOf returns the KV of a Policy that is a *Program, else nil: what a
// reload passes from the previous snapshot.
func KVOf(prev engine.Policy) *KV {
	if p, ok := prev.(*Program); ok && p != nil {
		return p.kv
	}
	return nil
}

// Files lists the loaded scripts, in load order.
func (p *Program) Files() []string {
	out := make([]string, len(p.scripts))
	for i, s := range p.scripts {
		out[i] = s.path
	}
	return out
}

// Hooks lists the hooks the scripts define, each with "file:line".
func (p *Program) Hooks() map[string]string {
	out := make(map[string]string)
	for h, s := range p.sites {
		if s.file != "" {
			out[hookNames[h]] = fmt.Sprintf("%s:%d", s.file, s.line)
		}
	}
	return out
}

// Empty reports whether the scripts define no hook at all (the engine may
// then run without a Policy).
func (p *Program) Empty() bool {
	for _, s := range p.sites {
		if s.file != "" {
			return false
		}
	}
	return true
}

// Events is the configured scripts.events mode.
func (p *Program) Events() string { return p.opts.Events }

// newState builds a sandboxed state and runs every script in it, within
// LoadTimeout and parent. With check set (the first state of a Program) it
// also finds which file defines each hook and fails on a hook defined twice.
func (p *Program) newState(parent context.Context, check bool) (*state, error) {
	defer p.noteBuild(time.Now(), parent)
	L := lua.NewState(lua.Options{
		SkipOpenLibs:    true,
		CallStackSize:   200,
		RegistrySize:    1024,
		RegistryMaxSize: 1 << 20,
	})
	s := &state{L: L, ctx: newHookCtx()}
	openSandbox(L, p.opts.MaxString)
	p.openModules(s)
	ctx, cancel := context.WithTimeout(parent, p.opts.LoadTimeout)
	defer cancel()
	L.SetContext(ctx)
	for _, sc := range p.scripts {
		var before [numHooks]lua.LValue
		for h := range before {
			before[h] = L.GetGlobal(hookNames[h])
		}
		L.Push(L.NewFunctionFromProto(sc.proto))
		if err := L.PCall(0, 0, nil); err != nil {
			L.Close()
			return nil, p.loadError(sc.path, err, ctx)
		}
		if check {
			if err := p.noteHooks(L, sc.path, &before); err != nil {
				L.Close()
				return nil, err
			}
		}
	}
	L.RemoveContext()
	for h := range s.fns {
		s.fns[h], _ = L.GetGlobal(hookNames[h]).(*lua.LFunction)
	}
	p.st.statesCreated.Add(1)
	return s, nil
}

// noteHooks records the hooks file defined, failing on one defined twice
// or defined as something other than a function.
func (p *Program) noteHooks(L *lua.LState, file string, before *[numHooks]lua.LValue) error {
	for h := range numHooks {
		v := L.GetGlobal(hookNames[h])
		if v == before[h] || v == lua.LNil {
			continue
		}
		fn, ok := v.(*lua.LFunction)
		if !ok {
			return posError(file, 1, "%s must be a function, not a %s", hookNames[h], v.Type())
		}
		line := 1
		if fn.Proto != nil {
			line = fn.Proto.LineDefined
		}
		if prev := p.sites[h]; prev.file != "" {
			return posError(file, line, "%s is already defined in %s:%d (one hook per name across all files)",
				hookNames[h], prev.file, prev.line)
		}
		p.sites[h] = site{file: file, line: line}
	}
	return nil
}

func (p *Program) loadError(file string, err error, ctx context.Context) error {
	msg := luaMessage(err)
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		msg = fmt.Sprintf("top-level code ran past %v", p.opts.LoadTimeout)
	case ctx.Err() != nil:
		msg = "stopped: the scripts' program is closed"
	}
	if f, line, text, ok := splitPos(msg); ok {
		return posError(f, line, "%s", text)
	}
	return posError(file, 1, "%s", msg)
}

// luaMessage is the error value of a failed PCall, without the traceback.
func luaMessage(err error) string {
	if ae, ok := err.(*lua.ApiError); ok && ae.Object != nil {
		return ae.Object.String()
	}
	return err.Error()
}
