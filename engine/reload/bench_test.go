package reload

import (
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"luapbx/engine"
	"luapbx/engine/config"
	"luapbx/engine/routing"
	"luapbx/luaapi"
)

// writeBigPlan writes a plan of n LCR-style rules and `scripts` Lua files.
func writeBigPlan(tb testing.TB, dir string, n, scripts int) string {
	tb.Helper()
	var b strings.Builder
	b.WriteString(`listen: {sip: ["udp:127.0.0.1:0"], http: "127.0.0.1:0"}
companies:
  - id: acme
    timezone: Europe/Rome
    extensions:
      - {number: "201", password: "a-long-passphrase-201"}
    trunks:
      - {id: p1, host: "127.0.0.1:5070"}
      - {id: p2, host: "127.0.0.1:5071"}
    rules:
`)
	rng := rand.New(rand.NewPCG(1, 2))
	seen := map[string]bool{}
	for len(seen) < n {
		prefix := fmt.Sprintf("%09d", rng.IntN(1_000_000_000))[:3+rng.IntN(7)]
		if seen[prefix] {
			continue
		}
		seen[prefix] = true
		fmt.Fprintf(&b, "      - {name: r%d, caller_type: internal, called: \"^%s\", action: route, target: \"gateway:p%d\"}\n", len(seen), prefix, 1+rng.IntN(2))
	}
	path := filepath.Join(dir, "pbx.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	for i := 0; i < scripts; i++ {
		src := fmt.Sprintf("local function helper%d(n) return n end\n", i)
		if i == 0 {
			src += "function on_route(call, decision)\n  if call.to == \"999\" then return {target = \"user:201\"} end\nend\n"
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("s%02d.lua", i)), []byte(src), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return path
}

func luaLoader(cfg *config.Config, _ *routing.Router, prev engine.Policy) (engine.Policy, error) {
	p, err := luaapi.Load(cfg.Scripts.DirPath, luaapi.Options{KV: luaapi.KVOf(prev)})
	if err != nil {
		return nil, err
	}
	return p, nil
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkReload10kRules20Scripts is a full reload: parse and validate the
// YAML, build the routing index, compile and load the scripts, run tests:,
// swap. Target: ≤ 150 ms.
func BenchmarkReload10kRules20Scripts(b *testing.B) {
	path := writeBigPlan(b, b.TempDir(), 10_000, 20)
	mgr, err := NewManager(slog.New(slog.NewTextHandler(io.Discard, nil)), path, luaLoader)
	if err != nil {
		b.Fatal(err)
	}
	defer mgr.Close()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		if err := mgr.Reload("bench"); err != nil {
			b.Fatal(err)
		}
	}
	// Wall time swings with whatever else runs on the machine; CPU time
	// (this process, all threads, GC included) is the steadier figure.
	b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/reload")
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/reload")
}
