package luaapi

import (
	"log/slog"
	"runtime"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// Defaults for Options left zero.
const (
	DefaultTimeout      = 50 * time.Millisecond
	DefaultEventTimeout = 2 * time.Second
	DefaultLoadTimeout  = time.Second
	DefaultDrainTimeout = 5 * time.Second
	DefaultQueueSize    = 256
	DefaultWorkers      = 2
	DefaultMaxString    = 16 << 20 // bytes one string.rep or string.gsub may build
	DefaultMaxBody      = 1 << 20  // bytes of an HTTP response body
	DefaultHTTPTimeout  = 5 * time.Second
	DefaultKVMaxEntries = 10000
)

// Event modes of Options.Events (the config's scripts.events).
const (
	EventsIntegration = "integration"
	EventsAll         = "all"
)

// Options configure a Program. Zero values take the defaults above.
type Options struct {
	// Timeout is the budget of one routing hook (scripts.timeout_ms).
	Timeout time.Duration
	// EventTimeout is the budget of one on_event call (scripts.event_timeout_ms).
	EventTimeout time.Duration
	// LoadTimeout bounds the top-level code of all files when a state is built.
	LoadTimeout time.Duration
	// DrainTimeout bounds how long Close lets queued events run.
	DrainTimeout time.Duration
	// HTTPAllow lists the hosts the http module may reach: "host",
	// "host:port" or "*.suffix" (scripts.http_allow). Empty allows all.
	HTTPAllow []string
	// Events is scripts.events: "integration" (default) or "all". The
	// Program delivers every event it is given; the engine filters with
	// WantEvent(Events, ...).
	Events string
	// Logger receives script logs and hook errors; nil discards.
	Logger *slog.Logger
	// QueueSize is the on_event queue length, shared out among the
	// Workers (each holds QueueSize/Workers, rounded up); Workers is how
	// many events run at once.
	QueueSize int
	Workers   int
	// Concurrency is how many routing hooks run at once (default GOMAXPROCS).
	Concurrency int
	// CheckTarget, when set, validates a target a hook returns for a
	// company (the router validates again).
	CheckTarget func(company, target string) error
	// Location, when set, gives a company's time zone (routing's
	// Router.Location): call.time_iso is written in it, so a script reads
	// the same local hour for a live call, `luapbx route` and `route --at`.
	// Nil leaves the call's time in the zone it came in.
	Location func(company string) *time.Location
	// KV is the key-value store of pbx.kv_get/kv_set. Pass the previous
	// Program's KV() to keep it across reloads; nil starts an empty one.
	KV *KV
	// MaxString caps the strings string.rep and string.gsub may build.
	MaxString int
	// MaxBody caps an HTTP response body read by the http module.
	MaxBody int64
	// Now is the clock of pbx.now and kv TTLs (tests); default time.Now.
	Now func() time.Time
	// Observe, when set, is told of every routing hook run: its name, how
	// long it took (waiting for a slot included) and its error (ErrTimeout,
	// ErrBusy or another), for metrics. It must not block.
	Observe func(hook string, took time.Duration, err error)
	// OnDrop, when set, is called for each event dropped by a full or
	// closed queue. It must not block.
	OnDrop func()

	extra map[string]lua.LGFunction // more globals, for tests
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.EventTimeout <= 0 {
		o.EventTimeout = DefaultEventTimeout
	}
	if o.LoadTimeout <= 0 {
		o.LoadTimeout = DefaultLoadTimeout
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = DefaultDrainTimeout
	}
	if o.Events == "" {
		o.Events = EventsIntegration
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.Concurrency <= 0 {
		o.Concurrency = runtime.GOMAXPROCS(0)
	}
	if o.MaxString <= 0 {
		o.MaxString = DefaultMaxString
	}
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.KV == nil {
		o.KV = NewKV(DefaultKVMaxEntries)
	}
	return o
}

// WantEvent tells the engine whether an event goes to on_event under the
// scripts.events mode: events that belong to no call (reload,
// registration: callID == "") always; a call's events when mode is "all" or
// the call's deciding rule has integration: true.
func WantEvent(mode, callID string, integration bool) bool {
	return callID == "" || integration || mode == EventsAll
}
