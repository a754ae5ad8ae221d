package routing

import "time"

// Plan is the routing part of a dial plan, as the config loader hands it to
// New. It holds no I/O concerns: files, passwords and addresses stay in the
// config.
type Plan struct {
	Generation uint64
	Companies  []CompanySpec
}

// CompanySpec is one company's routing data.
type CompanySpec struct {
	ID         string
	Location   *time.Location // nil means UTC
	Classes    []ClassSpec
	Extensions []ExtensionSpec
	Groups     []string // numbers
	IVRs       []IVRSpec
	Trunks     []string // ids
	Timetables []TimetableSpec
	Offhours   []OffhoursSpec
	Rules      []RuleSpec
}

// ClassSpec names a class of numbers ("international": "^00").
type ClassSpec struct {
	Name    string
	Pattern string
}

// ExtensionSpec is what routing needs of an extension.
type ExtensionSpec struct {
	Number    string
	Rights    []string // class names the extension may call
	Voicemail bool
}

// IVRSpec is an IVR's id and the number that reaches it.
type IVRSpec struct {
	ID     string
	Number string
}

// OffhoursSpec sends external calls to DIDs elsewhere outside open hours.
type OffhoursSpec struct {
	Name   string
	Open   string   // timetable id
	DIDs   []string // empty: every DID of the company
	Target string
}

// RuleSpec is a routing rule as written.
type RuleSpec struct {
	Name        string
	Enabled     bool
	CallerType  string // internal | external | any ("" = any)
	Calling     string // "" = "%"
	Called      string
	Timetable   string
	Action      string // route | map
	Target      string
	Map         *MapSpec
	Record      bool
	Integration bool
}

// MapSpec rewrites a number: either To, or Strip then Prepend.
type MapSpec struct {
	To      string
	Strip   int
	Prepend string
}

// CallerType is who places a call.
type CallerType uint8

// Caller types: Any only appears on rules.
const (
	Any CallerType = iota
	Internal
	External
)

func (c CallerType) String() string {
	switch c {
	case Internal:
		return "internal"
	case External:
		return "external"
	}
	return "any"
}

// ParseCallerType parses internal, external or any ("" is any).
func ParseCallerType(s string) (CallerType, bool) {
	switch s {
	case "", "any":
		return Any, true
	case "internal":
		return Internal, true
	case "external":
		return External, true
	}
	return Any, false
}
