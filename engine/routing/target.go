package routing

import (
	"fmt"
	"strconv"
	"strings"
)

// TargetKind is what a decision hands the call to.
type TargetKind uint8

// Target kinds, as written before the colon of a target.
const (
	TargetNone TargetKind = iota
	TargetUser
	TargetGroup
	TargetGateway
	TargetIVR
	TargetVoicemail
	TargetPlay
	TargetReject
	TargetNumber
	TargetApp
)

var targetNames = [...]string{"", "user", "group", "gateway", "ivr", "voicemail", "play", "reject", "number", "app"}

func (k TargetKind) String() string { return targetNames[k] }

// Target is a parsed target such as "user:201" or "gateway:p1,p2".
type Target struct {
	Kind TargetKind
	Arg  string
	Code int // for reject
}

// String gives the target back in its written form.
func (t Target) String() string {
	if t.Kind == TargetNone {
		return ""
	}
	return targetNames[t.Kind] + ":" + t.Arg
}

// Trunks lists a gateway target's trunks in precedence order.
func (t Target) Trunks() []string {
	if t.Kind != TargetGateway {
		return nil
	}
	return strings.Split(t.Arg, ",")
}

// Apps the PBX runs itself.
var apps = map[string]bool{"echo": true, "tone": true}

// ParseTarget checks a target's syntax; references are checked by the Router.
func ParseTarget(s string) (Target, error) {
	kind, arg, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok || arg == "" {
		return Target{}, fmt.Errorf("bad target %q (want kind:argument, e.g. user:201, gateway:p1,p2, reject:486)", s)
	}
	t := Target{Arg: strings.TrimSpace(arg)}
	for k, name := range targetNames {
		if k > 0 && name == kind {
			t.Kind = TargetKind(k)
		}
	}
	switch t.Kind {
	case TargetNone:
		return t, fmt.Errorf("bad target %q: unknown kind %q (want user, group, gateway, ivr, voicemail, play, reject, number, app)", s, kind)
	case TargetReject:
		code, err := strconv.Atoi(t.Arg)
		if err != nil || code < 400 || code > 699 {
			return t, fmt.Errorf("bad target %q: reject needs a SIP code from 400 to 699", s)
		}
		t.Code = code
	case TargetApp:
		if !apps[t.Arg] {
			return t, fmt.Errorf("bad target %q: unknown app %q (want echo or tone)", s, t.Arg)
		}
	case TargetGateway:
		parts := strings.Split(t.Arg, ",")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
			if parts[i] == "" {
				return t, fmt.Errorf("bad target %q: empty trunk name", s)
			}
		}
		t.Arg = strings.Join(parts, ",")
	case TargetNumber:
		t.Arg = Normalize(t.Arg)
		for i := 0; i < len(t.Arg); i++ {
			if symbol(t.Arg[i]) < 0 {
				return t, fmt.Errorf("bad target %q: %q is not a number", s, t.Arg)
			}
		}
	}
	return t, nil
}

// Reject is a reject target with the given SIP code.
// The codes the router itself uses are prebuilt so deciding them does not
// allocate.
func Reject(code int) Target {
	switch code {
	case 403:
		return reject403
	case 404:
		return reject404
	case 482:
		return reject482
	}
	return Target{Kind: TargetReject, Arg: strconv.Itoa(code), Code: code}
}

var (
	reject403 = Target{Kind: TargetReject, Arg: "403", Code: 403}
	reject404 = Target{Kind: TargetReject, Arg: "404", Code: 404}
	reject482 = Target{Kind: TargetReject, Arg: "482", Code: 482}
)
