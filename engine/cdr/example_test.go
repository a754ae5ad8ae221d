package cdr_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"luapbx/engine/cdr"
)

// The server opens the store from storage.cdr, feeds it through a Writer
// from the call path, and closes the Writer (then the store) on SIGTERM.
func Example() {
	dir, _ := os.MkdirTemp("", "cdr-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	store, err := cdr.Open(ctx, "sqlite:"+filepath.Join(dir, "var", "cdr.db"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()
	w := cdr.NewWriter(nil, store, cdr.WithSpillFile(filepath.Join(dir, "var", "cdr.spill")))

	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	w.Add(cdr.Record{ // at the end of a call: never blocks
		CallID: "a84b4c76e66710@127.0.0.1", Company: "acme", CallerType: "internal",
		From: "201", Dialled: "4444", FinalNumber: "3471234567", Rule: "short-4444",
		Target: "gateway:p1", Source: cdr.SourceBuiltin, Generation: 3,
		Start: start, Answer: start.Add(4 * time.Second), End: start.Add(64 * time.Second),
		Duration: 64 * time.Second, BillableSeconds: 60,
		Disposition: cdr.Answered, SIPCode: 200, HangupBy: cdr.Caller, HangupCause: "normal",
		Explanation: []byte(`{"rule":"short-4444","maps":["4444 -> 3471234567"]}`),
	})

	shutdown, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := w.Close(shutdown); err != nil { // flushes every pending record
		fmt.Println(err)
	}

	recs, _ := store.List(ctx, cdr.Filter{Disposition: cdr.Answered, Since: start})
	for _, r := range recs {
		fmt.Println(r.CallID, r.FinalNumber, r.Disposition, r.HangupBy, r.HangupCause, r.BillableSeconds,
			string(r.Explanation))
	}
	// Output:
	// a84b4c76e66710@127.0.0.1 3471234567 answered caller normal 60 {"rule":"short-4444","maps":["4444 -> 3471234567"]}
}
