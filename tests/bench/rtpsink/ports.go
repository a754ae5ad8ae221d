package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// maxPorts bounds one side's port list: a typo such as 1-65535/1 should not
// open 65535 sockets.
const maxPorts = 20000

// side is a named group of UDP ports whose arrivals are counted together.
type side struct {
	name  string
	ports []int
}

// parseSide reads NAME=LIST, where LIST is comma-separated items, each a port
// (2001) or a range FIRST-LAST[/STEP] (2001-2797/4: 2001, 2005, ..., 2797).
// Port 0 asks the kernel for a free port (for tests).
func parseSide(spec string) (side, error) {
	name, list, ok := strings.Cut(spec, "=")
	if !ok || name == "" || list == "" {
		return side{}, fmt.Errorf("side %q: want NAME=PORTS, e.g. uac=2001-2797/4", spec)
	}
	if strings.ContainsAny(name, " \t\n") {
		return side{}, fmt.Errorf("side %q: the name has blanks", name)
	}
	s := side{name: name}
	for _, item := range strings.Split(list, ",") {
		ports, err := parseItem(item)
		if err != nil {
			return side{}, fmt.Errorf("side %s: %w", name, err)
		}
		if len(s.ports)+len(ports) > maxPorts {
			return side{}, fmt.Errorf("side %s: more than %d ports", name, maxPorts)
		}
		s.ports = append(s.ports, ports...)
	}
	return s, nil
}

// parseItem reads one port or FIRST-LAST[/STEP] range.
func parseItem(item string) ([]int, error) {
	rng, stepText, hasStep := strings.Cut(item, "/")
	firstText, lastText, isRange := strings.Cut(rng, "-")
	first, err := parsePort(firstText)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", item, err)
	}
	if !isRange {
		if hasStep {
			return nil, fmt.Errorf("%q: a step needs a range FIRST-LAST/STEP", item)
		}
		return []int{first}, nil
	}
	last, err := parsePort(lastText)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", item, err)
	}
	step := 1
	if hasStep {
		step, err = strconv.Atoi(stepText)
		if err != nil || step < 1 {
			return nil, fmt.Errorf("%q: the step must be a whole number >= 1", item)
		}
	}
	if first == 0 || last < first {
		return nil, fmt.Errorf("%q: want 1 <= FIRST <= LAST", item)
	}
	if (last-first)/step+1 > maxPorts {
		return nil, fmt.Errorf("%q: more than %d ports", item, maxPorts)
	}
	ports := make([]int, 0, (last-first)/step+1)
	for p := first; p <= last; p += step {
		ports = append(ports, p)
	}
	return ports, nil
}

func parsePort(text string) (int, error) {
	p, err := strconv.Atoi(text)
	if err != nil || p < 0 || p > 65535 {
		return 0, fmt.Errorf("port %q is not 0..65535", text)
	}
	return p, nil
}

// checkSides refuses no sides, two sides with one name, and a port listed
// twice (the second bind would fail less clearly).
func checkSides(sides []side) error {
	if len(sides) == 0 {
		return errors.New("no -side given")
	}
	names := make(map[string]bool, len(sides))
	owner := make(map[int]string)
	for _, s := range sides {
		if names[s.name] {
			return fmt.Errorf("side %s given twice", s.name)
		}
		names[s.name] = true
		for _, p := range s.ports {
			if p == 0 {
				continue
			}
			if o, dup := owner[p]; dup {
				return fmt.Errorf("port %d listed twice (sides %s and %s)", p, o, s.name)
			}
			owner[p] = s.name
		}
	}
	return nil
}
