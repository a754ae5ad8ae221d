package config

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"luapbx/media/wav"
)

// base is a minimal valid plan; rows add lines from line 5 on.
const base = `companies:
  - id: acme
    extensions:
      - {number: "201", password: "alice201", voicemail: true}
`

// loadErrors loads doc as dir/pbx.yaml and returns its error lines with
// the folder stripped, so rows read "pbx.yaml:5: ...".
func loadErrors(t *testing.T, dir, doc string) []string {
	t.Helper()
	cfg, err := LoadBytes(filepath.Join(dir, "pbx.yaml"), []byte(doc))
	if err == nil {
		return nil
	}
	if cfg != nil {
		t.Errorf("a failed load returned a config")
	}
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("error is %T, want config.Errors: %v", err, err)
	}
	if got, want := err.Error(), strings.Join(es.Lines(), "\n"); got != want {
		t.Errorf("Error() = %q, want the lines joined %q", got, want)
	}
	out := es.Lines()
	for i := range out {
		out[i] = strings.ReplaceAll(out[i], dir+string(filepath.Separator), "")
	}
	return out
}

func TestValidationErrors(t *testing.T) {
	dir := planDir(t)
	writePrompt(t, filepath.Join(dir, "prompts", "stereo.wav"), wav.Stereo8k)
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"yaml syntax at the end", "companies:\n  - id: acme\n    extensions: [\n", []string{
			"pbx.yaml:3: YAML syntax: did not find expected node content"}},
		{"yaml syntax in the middle", base + "    name: a: b\nlisten: {}\n", []string{
			"pbx.yaml:5: YAML syntax: mapping values are not allowed in this context"}},
		{"a key indented deeper than its siblings", "companies:\n  - id: acme\n    extensions:\n      - number: \"201\"\n         name: Alice # one space too many\n        password: \"x-long-enough-pw\"\n", []string{
			"pbx.yaml:5: YAML syntax: did not find expected key (this line is indented more than the line above it)"}},
		{"an unclosed flow list is not blamed on the deeper lines", "companies:\n  - id: acme\n    extensions: [{number: \"201\",\n       password: \"x\"}\n    rules: 3: 4\n", []string{
			"pbx.yaml:2: YAML syntax: did not find expected ',' or ']'"}},
		{"unknown digest algorithm", base + "security: {digest_algorithms: [MD5, SHA-512]}\n", []string{
			`pbx.yaml:5: security.digest_algorithms: unknown digest algorithm "SHA-512": want MD5 or SHA-256`}},
		{"digest algorithm twice", base + "security: {digest_algorithms: [md5, MD5]}\n", []string{
			"pbx.yaml:5: security.digest_algorithms: MD5 is listed twice"}},
		{"no digest algorithm", base + "security: {digest_algorithms: []}\n", []string{
			"pbx.yaml:5: security.digest_algorithms: must name at least one of MD5, SHA-256"}},
		{"an md5 ha1 needs md5 offered", "companies:\n  - id: acme\n    extensions:\n      - {number: \"201\", ha1: \"0123456789abcdef0123456789abcdef\"}\nsecurity: {digest_algorithms: [SHA-256]}\n", []string{
			"pbx.yaml:4: companies[0].extensions[0].ha1: extension 201 has only an MD5 ha1, but security.digest_algorithms offers no MD5: add MD5 or give it a password"}},
		{"keepalive out of range", base + "    trunks: [{id: p1, host: \"127.0.0.1:5070\", transport: udp, keepalive_seconds: -5}]\n", []string{
			"pbx.yaml:5: companies[0].trunks[0].keepalive_seconds: want 1..3600 seconds (0 = the default, 30), got -5"}},
		{"bad ban exemption", base + "security: {ban_exempt: [192.0.2.0/24, office]}\n", []string{
			`pbx.yaml:5: security.ban_exempt[1]: bad address "office" (want an IP such as 192.0.2.10 or a network such as 192.0.2.0/24)`}},
		{"missing greeting", base + "      - {number: \"202\", password: \"bob-long-pw\", greeting: nope.wav}\n", []string{
			"pbx.yaml:5: companies[0].extensions[1].greeting: prompt nope.wav: no such file or directory (looked for nope.wav)"}},
		{"second document", base + "---\nlisten: {}\n", []string{
			"pbx.yaml:5: a second YAML document (---): put everything in one"}},
		{"unknown key with a suggestion", base + "    extensionz: []\n", []string{
			`pbx.yaml:5: companies[0].extensionz: unknown key "extensionz" (did you mean "extensions"?)`}},
		{"unknown keys, all of them", base + "listen: {colour: red}\nfavourite: 1\n", []string{
			`pbx.yaml:5: listen.colour: unknown key "colour" (known keys: http, public_ip, rtp_ports, sip)`,
			`pbx.yaml:6: favourite: unknown key "favourite" (known keys: admin, companies, listen, scripts, security, storage, tests)`}},
		{"duplicate key", base + "    id: again\n", []string{
			"pbx.yaml:5: companies[0].id: key written twice (first on line 2)"}},
		{"string given a list", base + "    timezone: [Europe/Rome]\n", []string{
			"pbx.yaml:5: companies[0].timezone: want a string, got a list"}},
		{"integer given text", base + "scripts: {timeout_ms: fast}\n", []string{
			`pbx.yaml:5: scripts.timeout_ms: want a whole number, got "fast"`}},
		{"boolean given text", base + "    rules: [{called: \"^3\", target: \"user:201\", record: maybe}]\n", []string{
			`pbx.yaml:5: companies[0].rules[0].record: want true or false, got "maybe"`}},
		{"list given a mapping", base + "    trunks: {id: p1}\n", []string{
			"pbx.yaml:5: companies[0].trunks: want a list, got a mapping"}},
		{"follow-on errors are dropped", base + "    rules: [{called: [\"^3\"], target: \"user:201\"}]\n", []string{
			"pbx.yaml:5: companies[0].rules[0].called: want a string, got a list"}},
		{"bad time zone", base + "    timezone: Europe/Atlantis\n", []string{
			`pbx.yaml:5: companies[0].timezone: unknown time zone "Europe/Atlantis" (want an IANA name such as Europe/Rome or UTC)`}},
		{"bad SIP listen address", base + "listen:\n  sip: [\"udp:127.0.0.1:5060\", \"sctp:127.0.0.1:5060\", \"tcp:127.0.0.1:70000\"]\n", []string{
			`pbx.yaml:6: listen.sip[1]: bad SIP address "sctp:127.0.0.1:5060" (want udp:HOST:PORT or tcp:HOST:PORT, e.g. udp:127.0.0.1:5060)`,
			`pbx.yaml:6: listen.sip[2]: bad SIP address "tcp:127.0.0.1:70000": port "70000" is not a number from 0 to 65535`}},
		{"SIP listen address twice", base + "listen: {sip: [\"udp:127.0.0.1:5060\", \"udp:127.0.0.1:5060\"]}\n", []string{
			`pbx.yaml:5: listen.sip[1]: "udp:127.0.0.1:5060" is listed twice`}},
		{"HTTP on the SIP port", base + "listen: {sip: [\"tcp:127.0.0.1:5060\"], http: \"127.0.0.1:5060\"}\n", []string{
			`pbx.yaml:5: listen.http: "127.0.0.1:5060" is also a SIP tcp address: give the admin API its own port`}},
		{"no SIP listen address", base + "listen: {sip: []}\n", []string{
			`pbx.yaml:5: listen.sip: need at least one SIP address, such as "udp:127.0.0.1:5060"`}},
		{"bad HTTP address", base + "listen: {http: \"admin.example.com:8080\"}\n", []string{
			`pbx.yaml:5: listen.http: bad HTTP address "admin.example.com:8080": host "admin.example.com" is not an IP address`}},
		{"bad RTP port range", base + "listen: {rtp_ports: \"20999-20000\"}\n", []string{
			`pbx.yaml:5: listen.rtp_ports: bad port range "20999-20000": want at least 2 ports, the first below the last`}},
		{"RTP ports out of range", base + "listen: {rtp_ports: \"80-90\"}\n", []string{
			`pbx.yaml:5: listen.rtp_ports: bad port range "80-90": ports must be from 1024 to 65535`}},
		{"bad public IP", base + "listen: {public_ip: pbx.example.com}\n", []string{
			`pbx.yaml:5: listen.public_ip: bad public_ip "pbx.example.com": want an IP address such as 203.0.113.7`}},
		{"bad CDR database, password hidden", base + "storage: {cdr: \"mysql://root:hunter2@db/cdr\"}\n", []string{
			`pbx.yaml:5: storage.cdr: bad CDR database "mysql://root:***@db/cdr": want sqlite:FILE or postgres://USER:PASSWORD@HOST/DB`}},
		{"no registrations file", base + "storage: {registrations: \"\"}\n", []string{
			`pbx.yaml:5: storage.registrations: need a file, e.g. var/registrations.json`}},
		{"registrations file is a folder", base + "storage: {registrations: var/}\n", []string{
			`pbx.yaml:5: storage.registrations: "var/" is a folder: want a file, e.g. var/registrations.json`}},
		{"bad events", base + "scripts: {events: some}\n", []string{
			`pbx.yaml:5: scripts.events: bad events "some" (want integration or all)`}},
		{"bad http_allow entry", base + "scripts: {http_allow: [\"http://crm.example.com/api\"]}\n", []string{
			`pbx.yaml:5: scripts.http_allow[0]: bad entry "http://crm.example.com/api" (want host, host:port or *.domain, e.g. crm.example.com)`}},
		{"hook timeout out of range", base + "scripts: {timeout_ms: 0}\n", []string{
			"pbx.yaml:5: scripts.timeout_ms: want 1 to 60000 milliseconds, got 0"}},
		{"missing scripts folder", base + "scripts: {dir: lua}\n", []string{
			"pbx.yaml:5: scripts.dir: scripts folder lua: no such file or directory"}},
		{"negative security setting", base + "security: {ban_seconds: -1}\n", []string{
			"pbx.yaml:5: security.ban_seconds: must not be negative (0 turns it off), got -1"}},
		{"admin token required off loopback", base + "listen: {http: \"0.0.0.0:8080\"}\n", []string{
			`pbx.yaml:5: admin.token: listen.http "0.0.0.0:8080" is reachable from other machines: set admin.token (or listen on 127.0.0.1)`}},
		{"bad strategy", base + "    groups: [{number: \"600\", strategy: roundrobin, members: [\"201\"]}]\n", []string{
			`pbx.yaml:5: companies[0].groups[0].strategy: bad strategy "roundrobin" (want ringall or hunt)`}},
		{"unknown group member", base + "    groups:\n      - number: \"600\"\n        members: [\"201\", \"299\"]\n", []string{
			"pbx.yaml:7: companies[0].groups[0].members[1]: no extension 299 in company acme"}},
		{"group member twice", base + "    groups: [{number: \"600\", members: [\"201\", \"201\"]}]\n", []string{
			"pbx.yaml:5: companies[0].groups[0].members[1]: extension 201 is listed twice"}},
		{"fallback to a voicemail that does not exist", base + "      - {number: \"202\", password: \"bobby202\", fallback: \"voicemail:202\"}\n", []string{
			`pbx.yaml:5: companies[0].extensions[1].fallback: target "voicemail:202": extension 202 has no voicemail (set voicemail: true)`}},
		{"IVR option key", base + "    ivrs: [{id: main, prompt: prompts/welcome.wav, options: {\"12\": \"user:201\"}}]\n", []string{
			`pbx.yaml:5: companies[0].ivrs[0].options.12: bad key "12": an option is one DTMF key, 0-9, * or #`}},
		{"IVR option and default naming nothing", base + "    ivrs:\n      - id: main\n        prompt: prompts/welcome.wav\n        options:\n          \"1\": \"group:600\"\n        default: \"user:999\"\n", []string{
			`pbx.yaml:9: companies[0].ivrs[0].options.1: target "group:600": no group 600 in company acme`,
			`pbx.yaml:10: companies[0].ivrs[0].default: target "user:999": no extension 999 in company acme`}},
		{"IVR option without a target", base + "    ivrs: [{id: main, prompt: prompts/welcome.wav, options: {\"1\": \"\"}}]\n", []string{
			"pbx.yaml:5: companies[0].ivrs[0].options.1: option 1 needs a target"}},
		{"off-hours DID not a number", base + "    timetables: [{id: office}]\n    offhours: [{name: night, open: office, dids: [\"main line\"], target: \"voicemail:201\"}]\n", []string{
			`pbx.yaml:6: companies[0].offhours[0].dids[0]: "main line" is not a phone number`}},
		{"missing prompt", base + "    ivrs: [{id: main, prompt: prompts/nothere.wav, default: \"user:201\"}]\n", []string{
			"pbx.yaml:5: companies[0].ivrs[0].prompt: prompt prompts/nothere.wav: no such file or directory (looked for prompts/nothere.wav)"}},
		{"prompt not 8 kHz mono", base + "    ivrs: [{id: main, prompt: prompts/stereo.wav, default: \"user:201\"}]\n", []string{
			"pbx.yaml:5: companies[0].ivrs[0].prompt: prompt prompts/stereo.wav: 8000 Hz stereo 16-bit PCM, want 8000 Hz mono 16-bit PCM"}},
		{"play target without its file", base + "    rules: [{called: \"^$9\", target: \"play:prompts/gone.wav\"}]\n", []string{
			"pbx.yaml:5: companies[0].rules[0].target: prompt prompts/gone.wav: no such file or directory (looked for prompts/gone.wav)"}},
		{"extension without a password", base + "      - {number: \"202\"}\n", []string{
			"pbx.yaml:5: companies[0].extensions[1]: extension 202 needs a password (or ha1 / ha1_sha256)"}},
		{"bad ha1", base + "      - {number: \"202\", ha1: \"xyz\"}\n", []string{
			"pbx.yaml:5: companies[0].extensions[1].ha1: want 32 hex digits (MD5 of number:realm:password)"}},
		{"bad trunk", base + "    trunks: [{id: p1, host: \"sip:prov.example.com\", transport: tls, register: true, inbound_ips: [\"10.0.0.x\"]}]\n", []string{
			`pbx.yaml:5: companies[0].trunks[0].host: bad host "sip:prov.example.com" (want a name or address, with an optional :port, e.g. 127.0.0.1:5070)`,
			`pbx.yaml:5: companies[0].trunks[0].transport: bad transport "tls" (want udp or tcp)`,
			"pbx.yaml:5: companies[0].trunks[0].register: registering needs a username and a password",
			`pbx.yaml:5: companies[0].trunks[0].inbound_ips[0]: bad address "10.0.0.x" (want an IP such as 192.0.2.10 or a network such as 192.0.2.0/24)`}},
		{"bad pattern (from the router)", base + "    rules:\n      - name: r\n        called: \"^3q\"\n        target: \"user:201\"\n", []string{
			`pbx.yaml:7: companies[0].rules[0].called: bad pattern "^3q": unexpected 'q' at position 3`}},
		{"unknown timetable (from the router)", base + "    rules:\n      - {called: \"^3\", target: \"user:201\", timetable: office}\n", []string{
			`pbx.yaml:6: companies[0].rules[0].timetable: unknown timetable "office"`}},
		{"dangling target (from the router)", base + "    rules:\n      - {called: \"^3\", target: \"gateway:p1\"}\n", []string{
			`pbx.yaml:6: companies[0].rules[0].target: target "gateway:p1": no trunk "p1" in company acme`}},
		{"number used twice (from the router)", base + "    groups: [{number: \"201\", members: [\"201\"]}]\n", []string{
			"pbx.yaml:5: companies[0].groups[0].number: number 201 is used twice: by extension 201 and by group 201"}},
		{"bad hour range (from the router)", base + "    timetables:\n      - id: office\n        weekly:\n          - days: mon-fri\n            hours: \"09:00-25:00\"\n", []string{
			`pbx.yaml:9: companies[0].timetables[0].weekly[0].hours: bad hour range "09:00-25:00": bad time "25:00" (want HH:MM, 00:00 to 24:00)`}},
		{"unknown right (from the router)", "companies:\n  - id: acme\n    classes: {mobile: \"^3\"}\n    extensions:\n      - number: \"201\"\n        password: alice201\n        rights: [mobile, moon]\n", []string{
			`pbx.yaml:7: companies[0].extensions[0].rights[1]: unknown class "moon" (the company defines mobile)`}},
		{"bad tests", base + "tests:\n  - {from: \"201\", to: \"202\", at: tomorrow, company: zz, expect: {target: \"user:202\"}}\n  - {from: \"201\", to: \"202\"}\n  - {from: \"201\", to: \"202\", expect: {target: bogus}}\n", []string{
			`pbx.yaml:6: tests[0].company: unknown company "zz"`,
			`pbx.yaml:6: tests[0].at: bad time "tomorrow" (want 2026-11-23T10:00 in the company's time zone, or RFC 3339 with an offset such as 2026-11-23T10:00:00+01:00)`,
			"pbx.yaml:7: tests[1].expect: a test needs expectations: target, number, rule, record, integration, offhours or source",
			`pbx.yaml:8: tests[2].expect.target: bad target "bogus" (want kind:argument, e.g. user:201, gateway:p1,p2, reject:486)`}},
		{"no companies", "listen: {}\n", []string{
			"pbx.yaml:1: companies: no companies: the plan needs at least one company with its extensions"}},
		{"every problem at once, sorted by line", base + "    timezone: Nowhere/City\nsecurity: {max_calls: lots}\nlisten: {public_ip: x}\n", []string{
			`pbx.yaml:5: companies[0].timezone: unknown time zone "Nowhere/City" (want an IANA name such as Europe/Rome or UTC)`,
			`pbx.yaml:6: security.max_calls: want a whole number, got "lots"`,
			`pbx.yaml:7: listen.public_ip: bad public_ip "x": want an IP address such as 203.0.113.7`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := loadErrors(t, dir, tt.doc)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestValidBaseLoads(t *testing.T) {
	if got := loadErrors(t, planDir(t), base); got != nil {
		t.Fatalf("the base plan does not load: %v", got)
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := Load(path)
	var es Errors
	if !errors.As(err, &es) || len(es) != 1 {
		t.Fatalf("err = %v, want one problem", err)
	}
	if want := path + ": cannot read the config: no such file or directory"; es[0].Error() != want {
		t.Errorf("got %q, want %q", es[0].Error(), want)
	}
}
