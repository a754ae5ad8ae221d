package tests

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"luapbx/tests/harness"
)

// sippBinary finds sipp, skipping the test when it is missing (failing it on
// CI, which installs Debian's sip-tester).
func sippBinary(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("sipp")
	if err == nil {
		return path
	}
	msg := "sipp not installed (apt-get install sip-tester): SIPp end-to-end scenario not run"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; CI=true requires it")
	}
	t.Skip(msg)
	return ""
}

// freeUDPPorts asks the kernel for n distinct free UDP ports on 127.0.0.1.
// SIPp needs explicit ports (it grabs 5060 otherwise); they are released
// just before SIPp binds them, a small window nothing here races for.
func freeUDPPorts(t *testing.T, n int) []int {
	t.Helper()
	ports := make([]int, 0, n)
	for range n {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ports = append(ports, c.LocalAddr().(*net.UDPAddr).Port)
	}
	return ports
}

// sippMediaPort finds a media port for SIPp's -mp: SIPp binds it and the
// ports after it (audio and video, RTP and RTCP), so four in a row must be
// free. They are looked for below the kernel's ephemeral range (32768-),
// where no test's or program's random socket can take them in the window
// before SIPp binds them.
func sippMediaPort(t *testing.T) int {
	t.Helper()
	for range 100 {
		base := 22000 + 4*rand.IntN(500)
		var held []net.PacketConn
		ok := true
		for p := base; p < base+4; p++ {
			c, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				ok = false
				break
			}
			held = append(held, c)
		}
		for _, c := range held {
			c.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no four free UDP ports in a row in 22000-23999")
	return 0
}

// sippRun is one sipp process; its final statistics go to a CSV file.
type sippRun struct {
	name  string
	cmd   *exec.Cmd
	out   bytes.Buffer
	stats string
	done  chan error
}

func startSIPp(t *testing.T, ctx context.Context, name, dir string, args ...string) *sippRun {
	t.Helper()
	r := &sippRun{name: name, stats: filepath.Join(dir, name+"_stats.csv"), done: make(chan error, 1)}
	args = append(args, "-nostdin", "-buff_size", "4194304", "-trace_stat", "-stf", r.stats, "-fd", "1",
		"-trace_err", "-error_file", filepath.Join(dir, name+"_errors.log"))
	r.cmd = exec.CommandContext(ctx, sippBinary(t), args...)
	r.cmd.Dir = dir
	r.cmd.Stdout, r.cmd.Stderr = &r.out, &r.out
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("start sipp %s: %v", name, err)
	}
	go func() { r.done <- r.cmd.Wait() }()
	t.Cleanup(func() {
		if r.cmd.ProcessState == nil {
			_ = r.cmd.Process.Kill()
			<-r.done
		}
	})
	return r
}

// wait returns sipp's exit code.
func (r *sippRun) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(timeout):
		_ = r.cmd.Process.Kill()
		<-r.done
		t.Errorf("sipp %s still running after %s: killed", r.name, timeout)
	}
	return r.cmd.ProcessState.ExitCode()
}

// final reads the cumulative counters of the last line of the stats file.
func (r *sippRun) final(t *testing.T) map[string]int {
	t.Helper()
	f, err := os.Open(r.stats)
	if err != nil {
		t.Fatalf("sipp %s stats: %v", r.name, err)
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.Comma = ';'
	cr.FieldsPerRecord = -1
	rows, err := cr.ReadAll()
	if err != nil || len(rows) < 2 {
		t.Fatalf("sipp %s stats: %v (%d rows)", r.name, err, len(rows))
	}
	out := map[string]int{}
	last := rows[len(rows)-1]
	for i, h := range rows[0] {
		if i < len(last) {
			if v, err := strconv.Atoi(strings.TrimSpace(last[i])); err == nil {
				out[h] = v
			}
		}
	}
	return out
}

func (r *sippRun) logs(t *testing.T) {
	t.Logf("sipp %s output:\n%s", r.name, r.out.String())
	if b, err := os.ReadFile(strings.TrimSuffix(r.stats, "_stats.csv") + "_errors.log"); err == nil {
		if len(b) > 4000 {
			b = b[len(b)-4000:]
		}
		t.Logf("sipp %s errors (tail):\n%s", r.name, b)
	}
}

// SIPp as an extension (digest auth on every INVITE) calls through luapbx
// to SIPp playing the gateway; every call must succeed on both sides.
func TestSIPpThroughGateway(t *testing.T) {
	t.Parallel()
	sippBinary(t)
	const calls = 20
	dir := t.TempDir()
	ports := freeUDPPorts(t, 2)
	uasPort, uacPort := ports[0], ports[1]
	company := "    trunks:\n" + trunkYAML("gw", fmt.Sprintf("127.0.0.1:%d", uasPort), "127.0.0.2") +
		`    rules:
      - {name: out, caller_type: internal, called: "^9", action: route, target: "gateway:gw"}
`
	harness.WriteFile(t, dir, "pbx.yaml", md5Only201(sipPlan(32700, "", "", company)))
	for _, f := range []string{"uac_auth.xml", "uas.xml"} {
		harness.WriteFile(t, dir, f, mustRead(t, filepath.Join("testdata", "sipp", f)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The gateway first, so that luapbx's first OPTIONS finds it up.
	uas := startSIPp(t, ctx, "uas", dir, "-sf", "uas.xml", "-i", "127.0.0.1", "-p", strconv.Itoa(uasPort), "-timeout", "50s")
	srv := harness.Start(t, dir, "pbx.yaml")
	pbx := srv.SIP["udp"]
	uac := startSIPp(t, ctx, "uac", dir, pbx, "-sf", "uac_auth.xml", "-s", "9000", "-auth_uri", "9000@"+pbx,
		"-i", "127.0.0.1", "-p", strconv.Itoa(uacPort), "-m", strconv.Itoa(calls), "-r", "10", "-l", "20",
		"-timeout", "30s", "-timeout_error")

	uacCode := uac.wait(t, 45*time.Second)
	// The gateway runs until told: SIGUSR1 is SIPp's graceful stop.
	_ = uas.cmd.Process.Signal(syscall.SIGUSR1)
	uasCode := uas.wait(t, 15*time.Second)
	uacStats, uasStats := uac.final(t), uas.final(t)
	if uacCode != 0 || uasCode != 0 {
		uac.logs(t)
		uas.logs(t)
		t.Errorf("sipp exit codes: uac %d, uas %d; want 0 and 0", uacCode, uasCode)
	}
	ok, failed := uacStats["SuccessfulCall(C)"], uacStats["FailedCall(C)"]
	t.Logf("sipp uac: %d successful, %d failed", ok, failed)
	if ok != calls || failed != 0 {
		t.Errorf("sipp uac: %d successful and %d failed calls, want %d and 0", ok, failed, calls)
	}
	// The gateway counts luapbx's OPTIONS keepalives as calls too.
	ok, failed = uasStats["SuccessfulCall(C)"], uasStats["FailedCall(C)"]
	t.Logf("sipp uas: %d successful (calls and OPTIONS), %d failed", ok, failed)
	if ok < calls || failed != 0 {
		t.Errorf("sipp uas: %d successful and %d failed, want at least %d and 0", ok, failed, calls)
	}
}

// md5Only201 configures extension 201 with an MD5 HA1 instead of its
// password: see testdata/sipp/uac_auth.xml for why SIPp needs it.
func md5Only201(plan string) string {
	ha1 := md5.Sum([]byte("201:luapbx:a-long-passphrase-201"))
	return strings.Replace(plan, `password: "a-long-passphrase-201"`, `ha1: "`+hex.EncodeToString(ha1[:])+`"`, 1)
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
