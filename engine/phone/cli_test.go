package phone

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"
)

func runMain(ctx context.Context, args ...string) (int, []Summary, string) {
	var out, errb bytes.Buffer
	code := Main(ctx, args, &out, &errb)
	var sums []Summary
	dec := json.NewDecoder(&out)
	for dec.More() {
		var s Summary
		if err := dec.Decode(&s); err != nil {
			return code, sums, errb.String() + " decode: " + err.Error()
		}
		sums = append(sums, s)
	}
	return code, sums, errb.String()
}

func TestMainUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		says string // besides the usage
	}{
		{"no args", nil, "-hangup-after"},
		{"flag first", []string{"--user", "201"}, "-early-media"},
		{"unknown command", []string{"dance"}, `unknown command "dance"`},
		{"call without number", []string{"call"}, "call which number?"},
		{"call with two numbers", []string{"call", "201", "202"}, "call takes one number"},
		{"register with extra arg", []string{"register", "x"}, "register takes no arguments"},
		{"bad flag", []string{"call", "201", "--nope"}, "-nope"},
		{"bad duration", []string{"call", "201", "--hangup-after", "soon"}, "soon"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, sums, stderr := runMain(context.Background(), tc.args...)
			if code != 2 || len(sums) != 0 || !strings.Contains(stderr, "usage") || !strings.Contains(stderr, tc.says) {
				t.Fatalf("code %d sums %d stderr %q (want it to say %q)", code, len(sums), stderr, tc.says)
			}
		})
	}
}

// TestMainAnswerNothingCame: answer with no call before --timeout says so.
func TestMainAnswerNothingCame(t *testing.T) {
	code, sums, stderr := runMain(context.Background(), "answer", "--no-register", "--timeout", "300ms")
	if code != 1 || len(sums) != 0 || !strings.Contains(stderr, "0 of 1 calls arrived within --timeout 300ms") {
		t.Fatalf("code %d sums %d stderr %q", code, len(sums), stderr)
	}
}

func TestMainCommands(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srv := startPBX(t, "udp")

	t.Run("register bad password", func(t *testing.T) {
		code, sums, _ := runMain(ctx, "register", "--server", srv.addr, "--user", "202", "--password", "x", "--domain", testRealm)
		if code != 1 || len(sums) != 1 || sums[0].State != StateRejected || sums[0].FinalCode != 401 {
			t.Fatalf("code %d sums %+v", code, sums)
		}
		srv.bans.Unban("127.0.0.1")
	})
	t.Run("register", func(t *testing.T) {
		code, sums, stderr := runMain(ctx, "register", "--server", srv.addr, "--user", "201", "--password", "s3cret",
			"--domain", testRealm, "--expires", "90")
		if code != 0 || len(sums) != 1 || sums[0].State != StateRegistered {
			t.Fatalf("code %d sums %+v stderr %s", code, sums, stderr)
		}
		if bs := srv.reg.Lookup("201"); len(bs) != 1 || bs[0].ExpiresIn(time.Now()) > 90 {
			t.Fatalf("bindings %+v", bs)
		}
	})
	t.Run("unregister from another port, then --all", func(t *testing.T) {
		// The register above ran on a port of its own: this one's contact
		// is not bound, the earlier one stays and the CLI says so.
		code, sums, stderr := runMain(ctx, "unregister", "--server", srv.addr, "--user", "201", "--password", "s3cret",
			"--domain", testRealm)
		if code != 0 || len(sums) != 1 || len(sums[0].Contacts) != 1 || !strings.Contains(stderr, "unregister --all") {
			t.Fatalf("code %d sums %+v stderr %s", code, sums, stderr)
		}
		code, sums, stderr = runMain(ctx, "unregister", "--all", "--server", srv.addr, "--user", "201", "--password", "s3cret",
			"--domain", testRealm)
		if code != 0 || len(sums) != 1 || len(sums[0].Contacts) != 0 || strings.Contains(stderr, "still lists") {
			t.Fatalf("--all: code %d sums %+v stderr %s", code, sums, stderr)
		}
		if bs := srv.reg.Lookup("201"); len(bs) != 0 {
			t.Fatalf("bindings after --all: %+v", bs)
		}
	})
	t.Run("answer then call its contact", func(t *testing.T) {
		var wg sync.WaitGroup
		var code int
		var sums []Summary
		var stderr string
		wg.Go(func() {
			code, sums, stderr = runMain(ctx, "answer", "--server", srv.addr, "--user", "202", "--password", "pw202",
				"--domain", testRealm, "--answer-after", "0.05", "--hangup-after", "150ms")
		})
		var contact string
		for range 400 {
			if bs := srv.reg.Lookup("202"); len(bs) == 1 {
				contact = bs[0].ContactURI
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if contact == "" {
			t.Fatal("answering phone never registered")
		}
		// Call the registered contact straight from the CLI as well.
		ccode, csums, cerr := runMain(ctx, "call", contact, "--server", srv.addr)
		wg.Wait()
		if ccode != 0 || len(csums) != 1 || csums[0].State != StateCompleted || csums[0].HangupBy != "remote" {
			t.Fatalf("caller: code %d %+v %s", ccode, csums, cerr)
		}
		if code != 0 || len(sums) != 1 || sums[0].State != StateCompleted || sums[0].HangupBy != "local" ||
			sums[0].CallID != csums[0].CallID {
			t.Fatalf("answerer: code %d %+v %s", code, sums, stderr)
		}
		if bs := srv.reg.Lookup("202"); len(bs) != 0 {
			t.Fatalf("answer did not unregister: %+v", bs)
		}
	})
	t.Run("answer prints each call as it ends", func(t *testing.T) {
		out := &lockedBuffer{}
		var wg sync.WaitGroup
		var code int
		wg.Go(func() {
			code = Main(ctx, []string{"answer", "--server", srv.addr, "--user", "202", "--password", "pw202",
				"--domain", testRealm, "--count", "2", "--hangup-after", "50ms"}, out, &lockedBuffer{})
		})
		var contact string
		for range 400 {
			if bs := srv.reg.Lookup("202"); len(bs) == 1 {
				contact = bs[0].ContactURI
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if contact == "" {
			t.Fatal("answering phone never registered")
		}
		if c, _, e := runMain(ctx, "call", contact, "--server", srv.addr); c != 0 {
			t.Fatalf("first call: %d %s", c, e)
		}
		lines := 0
		for range 200 { // the first summary is out while the phone still answers
			if lines = strings.Count(out.String(), "\n"); lines > 0 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if lines != 1 {
			t.Fatalf("after the first call, stdout holds %d lines, want 1", lines)
		}
		if c, _, e := runMain(ctx, "call", contact, "--server", srv.addr); c != 0 {
			t.Fatalf("second call: %d %s", c, e)
		}
		wg.Wait()
		if code != 0 || strings.Count(out.String(), "\n") != 2 {
			t.Fatalf("answer exited %d with %q, want two summaries", code, out.String())
		}
	})
	t.Run("call expecting busy", func(t *testing.T) {
		b := newPhone(t, Config{User: "203"})
		wait := answerAsync(ctx, t, b, AnswerOptions{Reject: 486, Expect: 486})
		code, sums, _ := runMain(ctx, "call", b.URI(), "--expect", "486")
		wait()
		if code != 0 || len(sums) != 1 || sums[0].FinalCode != 486 || !sums[0].ExpectOK {
			t.Fatalf("code %d %+v", code, sums)
		}
	})
}

// lockedBuffer is a bytes.Buffer safe for a writer and a reader at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
