package recorder_test

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"luapbx/media/g711"
	"luapbx/media/recorder"
)

func Example() {
	root, _ := os.MkdirTemp("", "rec")
	defer os.RemoveAll(root)
	answered := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	end := answered.Add(time.Second)
	path := recorder.Path(root, answered, "a84b4c76e66710@pc33.example.com")
	rec, err := recorder.New(path, recorder.WithStart(answered), recorder.WithClock(func() time.Time { return end }))
	if err != nil {
		panic(err)
	}
	frame := make([]byte, 160) // one 20 ms G.711 payload, as read from RTP
	for k := range 50 {
		at := answered.Add(time.Duration(k) * 20 * time.Millisecond)
		rec.Write(recorder.Caller, g711.PTPCMU, frame, at)
		rec.Write(recorder.Callee, g711.PTPCMA, frame, at)
	}
	d, err := rec.Close() // at hangup
	rel, _ := filepath.Rel(root, path)
	fmt.Println(rel, d, err)
	// Output: 2026/11/23/a84b4c76e66710@pc33.example.com.wav 1s <nil>
}
