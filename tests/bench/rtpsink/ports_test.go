package main

import (
	"io"
	"slices"
	"strings"
	"testing"
)

func TestParseSide(t *testing.T) {
	tests := []struct {
		spec  string
		name  string
		ports []int
		err   string // a part of the error, "" when none
	}{
		{spec: "uac=2001", name: "uac", ports: []int{2001}},
		{spec: "uac=2001-2013/4", name: "uac", ports: []int{2001, 2005, 2009, 2013}},
		{spec: "uac=2001-2014/4", name: "uac", ports: []int{2001, 2005, 2009, 2013}},
		{spec: "b=7-9", name: "b", ports: []int{7, 8, 9}},
		{spec: "b=5,7-9/2,100", name: "b", ports: []int{5, 7, 9, 100}},
		{spec: "t=0,0", name: "t", ports: []int{0, 0}},
		{spec: "uac", err: "want NAME=PORTS"},
		{spec: "=2001", err: "want NAME=PORTS"},
		{spec: "uac=", err: "want NAME=PORTS"},
		{spec: "u c=1", err: "blanks"},
		{spec: "uac=70000", err: "not 0..65535"},
		{spec: "uac=-5", err: "not 0..65535"},
		{spec: "uac=x", err: "not 0..65535"},
		{spec: "uac=9-7", err: "FIRST <= LAST"},
		{spec: "uac=0-7", err: "FIRST <= LAST"},
		{spec: "uac=1-7/0", err: "step"},
		{spec: "uac=1-7/x", err: "step"},
		{spec: "uac=5/2", err: "needs a range"},
		{spec: "uac=1,,2", err: "not 0..65535"},
		{spec: "uac=1-65535", err: "more than"},
		{spec: "uac=1-15000,20000-30000", err: "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := parseSide(tt.spec)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("parseSide(%q) = %v, %v; want an error with %q", tt.spec, got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseSide(%q): %v", tt.spec, err)
			}
			if got.name != tt.name || !slices.Equal(got.ports, tt.ports) {
				t.Fatalf("parseSide(%q) = %s %v, want %s %v", tt.spec, got.name, got.ports, tt.name, tt.ports)
			}
		})
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		err  string
	}{
		{name: "ok", args: []string{"-counts", "f", "-side", "uac=2001-2005/4", "-side", "uas=12001"}},
		{name: "no counts", args: []string{"-side", "uac=1"}, err: "-counts"},
		{name: "no side", args: []string{"-counts", "f"}, err: "no -side"},
		{name: "same name", args: []string{"-counts", "f", "-side", "a=1", "-side", "a=2"}, err: "side a given twice"},
		{name: "same port", args: []string{"-counts", "f", "-side", "a=1-9/4", "-side", "b=5"}, err: "port 5 listed twice (sides a and b)"},
		{name: "same port one side", args: []string{"-counts", "f", "-side", "a=5,5"}, err: "port 5 listed twice"},
		{name: "bad side", args: []string{"-counts", "f", "-side", "a"}, err: "NAME=PORTS"},
		{name: "bad timeout", args: []string{"-counts", "f", "-side", "a=1", "-timeout", "0s"}, err: "-timeout"},
		{name: "bad batch", args: []string{"-counts", "f", "-side", "a=1", "-batch", "0s"}, err: "-batch"},
		{name: "bad rcvbuf", args: []string{"-counts", "f", "-side", "a=1", "-rcvbuf", "-1"}, err: "-rcvbuf"},
		{name: "extra", args: []string{"-counts", "f", "-side", "a=1", "more"}, err: "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseFlags(tt.args, io.Discard)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("parseFlags(%q): %v, want an error with %q", tt.args, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseFlags(%q): %v", tt.args, err)
			}
			if len(cfg.sides) != 2 || cfg.sides[0].name != "uac" || !slices.Equal(cfg.sides[0].ports, []int{2001, 2005}) ||
				cfg.sides[1].name != "uas" || cfg.path != "f" {
				t.Fatalf("parseFlags(%q) = %+v", tt.args, cfg)
			}
		})
	}
}

func TestFormatCounts(t *testing.T) {
	got := formatCounts([]string{"uac", "uas"}, []counts{{packets: 3, bytes: 516}, {packets: 0, bytes: 0}})
	if want := "uac 3 516\nuas 0 0\n"; got != want {
		t.Fatalf("formatCounts = %q, want %q", got, want)
	}
}

func FuzzParseSide(f *testing.F) {
	for _, s := range []string{"uac=2001-2797/4", "a=1,2,3", "x=0", "b=9-7", "=", "a=1-2/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		sd, err := parseSide(spec)
		if err != nil {
			return
		}
		if sd.name == "" || len(sd.ports) == 0 || len(sd.ports) > maxPorts {
			t.Fatalf("parseSide(%q) = %q with %d ports", spec, sd.name, len(sd.ports))
		}
		for _, p := range sd.ports {
			if p < 0 || p > 65535 {
				t.Fatalf("parseSide(%q) gave port %d", spec, p)
			}
		}
	})
}
