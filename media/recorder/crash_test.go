package recorder

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"luapbx/media/g711"
	"luapbx/media/wav"
)

// TestKilledMidCallLeavesPlayableFile copies the file while the recorder is
// still running (what a SIGKILL leaves on disk) and checks that the copy
// plays as it is and after wav.Repair.
func TestKilledMidCallLeavesPlayableFile(t *testing.T) {
	start := time.Now()
	path := filepath.Join(t.TempDir(), "live.wav")
	r, err := New(path, WithStart(start))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	wire := encode(g711.PTPCMU, sine(440, 5*SampleRate, 12000))
	want := decode(g711.PTPCMU, wire)
	for k := range 250 { // 5 s of caller audio
		r.Write(Caller, g711.PTPCMU, wire[k*160:(k+1)*160], start.Add(time.Duration(k)*20*time.Millisecond))
	}
	var snapshot []byte
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) >= 44 && binary.LittleEndian.Uint32(b[40:]) >= 2*4*SampleRate {
			snapshot = b
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if snapshot == nil {
		t.Fatal("header never counted 2 s of audio while recording")
	}
	crashed := filepath.Join(t.TempDir(), "crashed.wav")
	if err := os.WriteFile(crashed, snapshot, 0o644); err != nil {
		t.Fatal(err)
	}
	check := func(stage string) int {
		left, right := readStereo(t, crashed)
		if len(left) < 2*SampleRate {
			t.Fatalf("%s: %d frames playable", stage, len(left))
		}
		for i := range left {
			if left[i] != want[i] || right[i] != 0 {
				t.Fatalf("%s: sample %d = %d/%d, want %d/0", stage, i, left[i], right[i], want[i])
			}
		}
		return len(left)
	}
	before := check("as left by the crash")
	if err := wav.Repair(crashed); err != nil {
		t.Fatal(err)
	}
	if after := check("after repair"); after < before {
		t.Fatalf("repair lost audio: %d -> %d frames", before, after)
	}
}
