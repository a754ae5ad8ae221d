// Package config loads and validates the dial plan (scripts/pbx.yaml by
// default): listen addresses, storage, scripts, security, the companies with
// their extensions, groups, IVRs, trunks, timetables, off-hours entries and
// routing rules, and the `tests:` that `luapbx check` runs.
//
// Load reports every problem at once, each as `file:line: path: message`
// (see Errors), including everything routing.New finds in the plan. Fields
// tagged yaml:"-" are filled in by the loader: parsed forms and resolved
// paths next to the raw values as written.
package config

import (
	"time"

	"luapbx/engine/routing"

	// Embedded zoneinfo, so a CGO_ENABLED=0 binary on a machine without
	// /usr/share/zoneinfo still knows Europe/Rome.
	_ "time/tzdata"
)

// Config is a loaded, validated dial plan.
type Config struct {
	File string `yaml:"-"` // the file name as given to Load
	Dir  string `yaml:"-"` // absolute folder of the file

	Listen    Listen    `yaml:"listen"`
	Storage   Storage   `yaml:"storage"`
	Scripts   Scripts   `yaml:"scripts"`
	Security  Security  `yaml:"security"`
	Admin     Admin     `yaml:"admin"`
	Companies []Company `yaml:"companies"`
	Tests     []Test    `yaml:"tests"`

	// Warnings are problems that do not stop the config from loading:
	// weak passwords, rules that can tie.
	Warnings Errors `yaml:"-"`

	router *routing.Router // built while validating; Router hands it out
	lines  map[string]int  // config path ("companies[0].rules[2].called") -> line
}

// Listen is where the PBX listens. A key left out takes its default; an
// explicit empty http ("") turns the admin HTTP server off.
type Listen struct {
	SIP      []string `yaml:"sip"`       // "udp:127.0.0.1:5060", "tcp:127.0.0.1:5060"
	HTTP     string   `yaml:"http"`      // admin API, "127.0.0.1:8080"
	RTPPorts string   `yaml:"rtp_ports"` // "20000-20999"
	PublicIP string   `yaml:"public_ip"` // address written in SDP; "" = the local address

	SIPAddrs []SIPAddr `yaml:"-"`
	RTPMin   int       `yaml:"-"`
	RTPMax   int       `yaml:"-"`
}

// SIPAddr is one parsed listen.sip entry.
type SIPAddr struct {
	Transport string // udp | tcp
	Addr      string // host:port
}

// Storage says where CDRs, recordings, voicemail and the phones'
// registrations go. Relative paths resolve against the working directory.
type Storage struct {
	CDR           string `yaml:"cdr"` // sqlite:<path> or postgres://...
	Recordings    string `yaml:"recordings"`
	Voicemail     string `yaml:"voicemail"`
	Registrations string `yaml:"registrations"` // a JSON file, kept across restarts

	CDRDriver         string `yaml:"-"` // sqlite | postgres
	CDRDSN            string `yaml:"-"` // sqlite:<absolute path>, or the postgres DSN as written
	RecordingsDir     string `yaml:"-"` // absolute
	VoicemailDir      string `yaml:"-"` // absolute
	RegistrationsFile string `yaml:"-"` // absolute
}

// Scripts configures the Lua side.
type Scripts struct {
	Dir            string   `yaml:"dir"` // default: the config file's folder
	TimeoutMS      int      `yaml:"timeout_ms"`
	EventTimeoutMS int      `yaml:"event_timeout_ms"`
	HTTPAllow      []string `yaml:"http_allow"` // host, host:port or *.domain; empty allows any host
	Events         string   `yaml:"events"`     // integration | all

	DirPath string `yaml:"-"` // absolute
}

// Timeout is the routing hook budget.
func (s Scripts) Timeout() time.Duration { return time.Duration(s.TimeoutMS) * time.Millisecond }

// EventTimeout is the on_event budget.
func (s Scripts) EventTimeout() time.Duration {
	return time.Duration(s.EventTimeoutMS) * time.Millisecond
}

// Security holds the ban and limit settings.
type Security struct {
	BanAfterFailures int `yaml:"ban_after_failures"`
	BanWindowSeconds int `yaml:"ban_window_seconds"`
	BanSeconds       int `yaml:"ban_seconds"`
	MaxCalls         int `yaml:"max_calls"` // whole system; 0 = unlimited
	// DigestAlgorithms are the digest algorithms challenges offer, in
	// order of preference: "MD5", "SHA-256". Default MD5 alone: baresip
	// 1.0, SIPp 3.6 and many desk phones give up on a 401 that carries any
	// SHA-256 challenge, even next to an MD5 one.
	DigestAlgorithms []string `yaml:"digest_algorithms"`
	// BanExempt lists addresses or networks whose failures never ban them
	// (an office NAT). Every trunk's inbound_ips are exempt too: one
	// misconfigured phone behind the provider's address must not cut the
	// trunk off.
	BanExempt []string `yaml:"ban_exempt"`
}

// Admin protects the admin API.
type Admin struct {
	Token string `yaml:"token"` // required when listen.http is not loopback
}

// Company is one tenant of the PBX.
type Company struct {
	ID         string      `yaml:"id"`
	Timezone   string      `yaml:"timezone"` // IANA, default UTC
	Classes    Entries     `yaml:"classes"`  // name -> pattern, in written order
	Extensions []Extension `yaml:"extensions"`
	Groups     []Group     `yaml:"groups"`
	IVRs       []IVR       `yaml:"ivrs"`
	Trunks     []Trunk     `yaml:"trunks"`
	Timetables []Timetable `yaml:"timetables"`
	Offhours   []Offhours  `yaml:"offhours"`
	Rules      []Rule      `yaml:"rules"`

	Location *time.Location `yaml:"-"`
}

// Entry is one key of a mapping whose order matters.
type Entry struct {
	Key   string
	Value string
	Line  int
}

// Entries is a mapping of strings kept in written order.
type Entries []Entry

// Get returns the value of key.
func (es Entries) Get(key string) (string, bool) {
	for _, e := range es {
		if e.Key == key {
			return e.Value, true
		}
	}
	return "", false
}

// Extension is a phone (SIP account) of a company.
type Extension struct {
	Number      string   `yaml:"number"`
	Name        string   `yaml:"name"`
	Password    string   `yaml:"password"`
	HA1         string   `yaml:"ha1"`        // hex MD5 of number:realm:password (the realm the PBX challenges with)
	HA1SHA256   string   `yaml:"ha1_sha256"` // hex SHA-256 of number:realm:password
	Rights      []string `yaml:"rights"`     // classes it may call through a gateway
	Mobile      string   `yaml:"mobile"`
	Voicemail   bool     `yaml:"voicemail"`
	RingSeconds int      `yaml:"ring_seconds"`
	MaxCalls    int      `yaml:"max_calls"` // 0 = unlimited
	Fallback    string   `yaml:"fallback"`  // target when it does not answer; "" = hang up
	// Greeting is played to voicemail callers before the beep (a WAV, 8 kHz
	// mono 16-bit, relative to this file); "" = the beep alone.
	Greeting     string `yaml:"greeting"`
	GreetingPath string `yaml:"-"` // absolute
}

// Group is a ring group.
type Group struct {
	Number      string   `yaml:"number"`
	Name        string   `yaml:"name"`
	Strategy    string   `yaml:"strategy"` // ringall | hunt
	Members     []string `yaml:"members"`  // extension numbers
	RingSeconds int      `yaml:"ring_seconds"`
	Fallback    string   `yaml:"fallback"`
}

// IVR is a voice menu.
type IVR struct {
	ID             string  `yaml:"id"`
	Number         string  `yaml:"number"`
	Prompt         string  `yaml:"prompt"` // relative to the config file's folder
	TimeoutSeconds int     `yaml:"timeout_seconds"`
	Options        Entries `yaml:"options"` // DTMF key -> target
	Default        string  `yaml:"default"` // target on timeout or a key with no option
	// InvalidPrompt is played after a key with no option, before the menu
	// again; "" = the menu again at once.
	InvalidPrompt string `yaml:"invalid_prompt"`

	PromptPath        string `yaml:"-"` // absolute
	InvalidPromptPath string `yaml:"-"` // absolute
}

// Trunk is a SIP provider.
type Trunk struct {
	ID         string   `yaml:"id"`
	Host       string   `yaml:"host"` // host[:port]
	Transport  string   `yaml:"transport"`
	Username   string   `yaml:"username"`
	Password   string   `yaml:"password"`
	Register   bool     `yaml:"register"`
	InboundIPs []string `yaml:"inbound_ips"` // addresses or CIDRs calls may come from
	MaxCalls   int      `yaml:"max_calls"`   // 0 = unlimited
	// KeepaliveSeconds is the OPTIONS interval; two unanswered in a row
	// mark the trunk down. 0 = the default (30).
	KeepaliveSeconds int `yaml:"keepalive_seconds"`
}

// Timetable is a set of open hours.
type Timetable struct {
	ID       string   `yaml:"id"`
	Weekly   []Weekly `yaml:"weekly"`
	Holidays []string `yaml:"holidays"` // YYYY-MM-DD
}

// Weekly is one line of a timetable: days "mon-fri", hours "08:30-13:00,14:00-18:00".
type Weekly struct {
	Days  string `yaml:"days"`
	Hours string `yaml:"hours"`
}

// Offhours sends external calls to some DIDs elsewhere when closed.
type Offhours struct {
	Name   string   `yaml:"name"`
	Open   string   `yaml:"open"` // timetable id of the open hours
	DIDs   []string `yaml:"dids"` // empty: every DID
	Target string   `yaml:"target"`
}

// Rule is a routing rule.
type Rule struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	Enabled     bool   `yaml:"enabled"`
	CallerType  string `yaml:"caller_type"`
	Calling     string `yaml:"calling"`
	Called      string `yaml:"called"`
	Timetable   string `yaml:"timetable"`
	Action      string `yaml:"action"`
	Target      string `yaml:"target"`
	Map         *Map   `yaml:"map"`
	Record      bool   `yaml:"record"`
	Integration bool   `yaml:"integration"`
}

// Map rewrites a number: to, or strip then prepend.
type Map struct {
	To      string `yaml:"to"`
	Strip   int    `yaml:"strip"`
	Prepend string `yaml:"prepend"`
}

// Test is one entry of `tests:`: a call and what the router must decide.
type Test struct {
	Name    string `yaml:"name"`
	Company string `yaml:"company"`
	From    string `yaml:"from"`
	To      string `yaml:"to"`
	Trunk   string `yaml:"trunk"`
	At      string `yaml:"at"` // company-local unless it has an offset; "" = now
	Expect  Expect `yaml:"expect"`

	Line int `yaml:"-"`
}

// Expect lists the fields a test checks; nil fields are not checked.
type Expect struct {
	Target      *string `yaml:"target"`
	Number      *string `yaml:"number"`
	Rule        *string `yaml:"rule"`
	Record      *bool   `yaml:"record"`
	Integration *bool   `yaml:"integration"`
	Offhours    *string `yaml:"offhours"` // entry name; "true"/"false" for any/none
	Source      *string `yaml:"source"`   // builtin | lua
}

// Line returns the line of the config node at path (such as
// "companies[0].rules[2].called"), or of its nearest parent that has one.
func (c *Config) Line(path string) int { return lineOf(c.lines, path) }

// Company returns the company with the given id.
func (c *Config) Company(id string) *Company {
	for i := range c.Companies {
		if c.Companies[i].ID == id {
			return &c.Companies[i]
		}
	}
	return nil
}

// Extension returns the extension with the given number.
func (co *Company) Extension(number string) *Extension {
	for i := range co.Extensions {
		if co.Extensions[i].Number == number {
			return &co.Extensions[i]
		}
	}
	return nil
}
