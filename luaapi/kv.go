package luaapi

import (
	"errors"
	"sync"
	"time"
)

// ErrKVFull is returned by Set when the store holds its maximum of live keys.
var ErrKVFull = errors.New("kv store full")

// KV is the key-value store behind pbx.kv_get and pbx.kv_set: shared by
// every state of a Program, and across reloads when the next Program is
// given the previous one's KV. Values are plain Go values (string, float64,
// bool, map[string]any, []any), copied in and out, so no Lua state shares
// a table with another.
type KV struct {
	max int
	mu  sync.Mutex
	m   map[string]kvEntry
}

type kvEntry struct {
	val any
	exp time.Time // zero: never
}

// NewKV makes a store holding at most max live keys (0: DefaultKVMaxEntries).
func NewKV(max int) *KV {
	if max <= 0 {
		max = DefaultKVMaxEntries
	}
	return &KV{max: max, m: make(map[string]kvEntry)}
}

// Get returns the value of key at time now, if it is set and not expired.
func (kv *KV) Get(key string, now time.Time) (any, bool) {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	e, ok := kv.m[key]
	if !ok {
		return nil, false
	}
	if !e.exp.IsZero() && !now.Before(e.exp) {
		delete(kv.m, key)
		return nil, false
	}
	return e.val, true
}

// Set stores val under key; a nil val deletes; ttl > 0 makes it expire.
func (kv *KV) Set(key string, val any, ttl time.Duration, now time.Time) error {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	if val == nil {
		delete(kv.m, key)
		return nil
	}
	if _, ok := kv.m[key]; !ok && len(kv.m) >= kv.max {
		kv.sweep(now)
		if len(kv.m) >= kv.max {
			return ErrKVFull
		}
	}
	e := kvEntry{val: val}
	if ttl > 0 {
		e.exp = now.Add(ttl)
	}
	kv.m[key] = e
	return nil
}

// Len counts the keys held, expired or not.
func (kv *KV) Len() int {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	return len(kv.m)
}

func (kv *KV) sweep(now time.Time) {
	for k, e := range kv.m {
		if !e.exp.IsZero() && !now.Before(e.exp) {
			delete(kv.m, k)
		}
	}
}
