package config_test

import (
	"errors"
	"fmt"

	"luapbx/engine/config"
)

// What `luapbx check` does: load (every problem at once), then run tests:.
func Example() {
	doc := []byte(`companies:
  - id: acme
    timezone: Europe/Rome
    extensions:
      - {number: "201", password: alice201}
      - {number: "202", password: bobby202, ring_seconds: soon}
    groups: [{number: "600", strategy: roundrobin, members: ["201", "299"]}]
`)
	_, err := config.LoadBytes("testdata/pbx.yaml", doc)
	var problems config.Errors
	if errors.As(err, &problems) {
		for _, p := range problems {
			fmt.Println(p)
		}
	}

	doc = []byte(`companies:
  - id: acme
    timezone: Europe/Rome
    extensions:
      - {number: "201", password: alice201}
      - {number: "202", password: bobby202}
tests:
  - {name: call bob, from: "201", to: "202", at: "2026-11-23T10:00", expect: {target: "user:202"}}
`)
	cfg, err := config.LoadBytes("testdata/pbx.yaml", doc)
	if err != nil {
		fmt.Println(err)
		return
	}
	r, err := cfg.Router(1)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, res := range config.RunTests(cfg, r, nil) {
		fmt.Print(res.Text())
	}
	// Output:
	// testdata/pbx.yaml:6: companies[0].extensions[1].ring_seconds: want a whole number, got "soon"
	// testdata/pbx.yaml:7: companies[0].groups[0].strategy: bad strategy "roundrobin" (want ringall or hunt)
	// testdata/pbx.yaml:7: companies[0].groups[0].members[1]: no extension 299 in company acme
	// ok   testdata/pbx.yaml:8: call bob
}
