package main

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// send writes n datagrams of size bytes to 127.0.0.1:port.
func send(t testing.TB, port, n, size int) {
	t.Helper()
	c, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, size)
	for range n {
		if _, err := c.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
}

// waitCounts polls s until want arrived, or fails after 5 s.
func waitCounts(t testing.TB, s *sink, want []counts) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := s.snapshot()
		done := true
		for i := range want {
			if got[i] != want[i] {
				done = false
			}
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("counts %+v, want %+v", got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func startSink(t testing.TB, sides []side) (*sink, func()) {
	t.Helper()
	s, err := openSink(sides, 1<<20, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.run(ctx) }()
	return s, func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		s.close()
		s.close()
	}
}

func TestSinkCountsPerSide(t *testing.T) {
	s, stop := startSink(t, []side{{name: "a", ports: []int{0, 0}}, {name: "b", ports: []int{0}}})
	defer stop()
	if len(s.bound[0]) != 2 || len(s.bound[1]) != 1 {
		t.Fatalf("bound %v", s.bound)
	}
	send(t, s.bound[0][0], 10, 172)
	send(t, s.bound[0][1], 5, 100)
	send(t, s.bound[1][0], 7, 0)
	waitCounts(t, s, []counts{{packets: 15, bytes: 10*172 + 5*100}, {packets: 7, bytes: 0}})
	// A burst larger than one recvmmsg takes still arrives whole.
	send(t, s.bound[1][0], 300, 20)
	waitCounts(t, s, []counts{{packets: 15, bytes: 10*172 + 5*100}, {packets: 307, bytes: 6000}})
	// Datagrams longer than the read buffers count their full length.
	send(t, s.bound[0][1], 3, 5000)
	waitCounts(t, s, []counts{{packets: 18, bytes: 10*172 + 5*100 + 15000}, {packets: 307, bytes: 6000}})
}

func TestSinkBindError(t *testing.T) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	port := c.LocalAddr().(*net.UDPAddr).Port
	_, err = openSink([]side{{name: "a", ports: []int{0}}, {name: "uas", ports: []int{port}}}, 0, 0)
	if err == nil {
		t.Fatalf("openSink on taken port %d: no error", port)
	}
	want := "bind uas port " + strconv.Itoa(port) + " on 127.0.0.1: address already in use"
	if err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
}

func TestServeWritesCountsAndStops(t *testing.T) {
	s, err := openSink([]side{{name: "uac", ports: []int{0}}, {name: "uas", ports: []int{0}}}, 0, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	path := filepath.Join(t.TempDir(), "counts")
	cfg := config{path: path, every: 20 * time.Millisecond, timeout: time.Minute}
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, s, io.Discard) }()
	send(t, s.bound[1][0], 4, 50)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not stop at its context's end")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), "uac 0 0\nuas 4 200\n"; got != want {
		t.Fatalf("counts file %q, want %q", got, want)
	}
}

func TestRealMainBindFailure(t *testing.T) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	port := c.LocalAddr().(*net.UDPAddr).Port
	path := filepath.Join(t.TempDir(), "counts")
	var stderr strings.Builder
	code := realMain([]string{"-counts", path, "-side", "uac=" + strconv.Itoa(port)}, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "bind uac port "+strconv.Itoa(port)) {
		t.Fatalf("realMain = %d, stderr %q", code, stderr.String())
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("counts file written despite the bind failure")
	}
}

func TestRealMainSignal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "counts")
	go func() {
		for range 500 {
			if _, err := os.Stat(path); err == nil {
				_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	var stderr strings.Builder
	code := realMain([]string{"-counts", path, "-side", "uac=0", "-timeout", "10s"}, &stderr)
	if code != 0 {
		t.Fatalf("realMain = %d, stderr %q", code, stderr.String())
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "uac 0 0\n" {
		t.Fatalf("counts file %q, %v", b, err)
	}
}

func BenchmarkSink(b *testing.B) {
	s, stop := startSink(b, []side{{name: "a", ports: []int{0}}})
	defer stop()
	c, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: s.bound[0][0]})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 172)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
		if i%64 == 63 { // stay well within the receive buffer
			waitCounts(b, s, []counts{{packets: uint64(i + 1), bytes: uint64(i+1) * 172}})
		}
	}
	waitCounts(b, s, []counts{{packets: uint64(b.N), bytes: uint64(b.N) * 172}})
}
