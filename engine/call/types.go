// Package call is luapbx's B2BUA: it admits an INVITE (digest auth for
// extensions, source address for trunks, bans, limits), asks the router
// where it goes, rings B legs (forks, ring groups, trunk failover), relays
// provisional and final responses, ACK, CANCEL, BYE and re-INVITE between
// the legs, and reports call events.
//
// Each call has one owner goroutine (the INVITE handler's) that holds its
// state; SIP handlers and leg goroutines only send it events.
package call

import (
	"context"
	"net/netip"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"luapbx/engine"
	"luapbx/engine/registrar"
	"luapbx/engine/routing"
	"luapbx/engine/sipauth"
)

// Extension is what calls need to know about an extension.
type Extension struct {
	Number      string
	Company     string
	Name        string
	Credential  sipauth.Credential
	RingSeconds int    // 0: the manager's default
	MaxCalls    int    // concurrent calls in and out; 0 = unlimited
	Fallback    string // target when busy, unanswered or unregistered; "" = none
}

// Group is a ring group.
type Group struct {
	Number      string
	Company     string
	Strategy    string // "ringall" (default) or "hunt"
	Members     []string
	RingSeconds int
	Fallback    string
}

// Trunk is a SIP provider.
type Trunk struct {
	ID        string
	Company   string
	Host      string // host[:port]
	Transport string // udp (default) or tcp
	Username  string
	Password  string
	MaxCalls  int // 0 = unlimited
}

// Directory answers questions about configured entities, from one config
// snapshot.
type Directory interface {
	// Extension looks an extension up by number (extension numbers are
	// unique across companies: they are registrar AORs).
	Extension(number string) (Extension, bool)
	Group(company, number string) (Group, bool)
	Trunk(company, id string) (Trunk, bool)
	// TrunkFrom returns the trunk whose inbound_ips contain ip.
	TrunkFrom(ip netip.Addr) (Trunk, bool)
}

// Router decides where a call goes. The explanation is kept on the call and
// passed back in events (the lead's CDR stores it).
type Router interface {
	Decide(ctx context.Context, c *routing.Call) (routing.Decision, any)
}

// Snapshot is one config generation: its directory and router. A call takes
// one at its INVITE and keeps it to its end.
type Snapshot interface {
	Directory
	Router
	Generation() uint64
}

// EventSink is what a Snapshot may also be: the scripts of its
// generation. A call's events then go to the snapshot it runs with, not
// to Config.Events, so the on_event the call started with gets all of
// them, in order, even when a reload comes in between.
type EventSink interface {
	// WantEvents says whether events of a call whose decision has this
	// integration flag go anywhere.
	WantEvents(integration bool) bool
	Emit(ev engine.Event)
}

// Snapshots returns the live snapshot and a function releasing it, called
// once when the call that took it ends.
type Snapshots func() (Snapshot, func())

// Locator finds where an extension is registered.
type Locator interface {
	Lookup(aor string) []registrar.Binding
}

// Transport is the SIP stack calls send through (engine/sipserver.Server).
type Transport interface {
	Client(transport string) (*sipgo.Client, error)
	Contact(transport string) sip.ContactHeader
}

// Media plays ivr, voicemail, play and app targets. Not implemented in
// this package: without a Media, those targets are answered 480/501.
//
// Serve runs the target on the caller's leg and returns the SIP code to
// answer A with when it did not answer it itself (0 when it did). When
// the application leads to a target the call layer rings (an IVR choice
// of user:, group:, gateway: or number:), Serve returns 0 and that target
// as next: the caller stays answered and the media layer keeps its RTP
// (playing ring-back) while the call layer rings next with the usual
// rules. A later media target (a fallback to voicemail) is served on that
// same answered leg. When a callee answers, the call layer ACKs it and
// calls Bridge with the callee's SDP: the media layer relays the caller's
// RTP (the socket and SDP it answered with; no re-INVITE) to the callee.
// When nobody answers, the call layer sends the caller BYE; the media
// held for it is released at the call's end (Config.OnEnd).
type Media interface {
	Serve(ctx context.Context, c *Call, t routing.Target) (code int, next *routing.Target)
	Bridge(c *Call, calleeSDP []byte) error
}

// AnswerObserver, when the Media implements it, hears once that the
// caller confirmed a callee's answer (its ACK, or its BYE): the media
// layer starts the call's recording there, not with early media.
type AnswerObserver interface {
	Answered(c *Call)
}

// EarlyMediaSink, when the Media implements it, is told of a callee's
// early media (a provisional response with SDP) on a call whose caller the
// media layer answered itself (an IVR choice ringing): the caller, who
// cannot get a 183 after its 200, hears the callee's announcement instead
// of the ring-back. A later callee's early media replaces it;
// EarlyMediaEnded says the callee whose early media plays failed (the
// ring-back comes back while others ring).
type EarlyMediaSink interface {
	EarlyMedia(c *Call, calleeSDP []byte) error
	EarlyMediaEnded(c *Call)
}

// TrunkState reports whether a trunk is up (OPTIONS keepalive); nil means
// every trunk is up.
type TrunkState interface {
	Up(id string) bool
}

// SDPRewriter may rewrite the SDP sent on a leg ("a" towards the caller,
// "b" towards a callee). The media layer anchors RTP here; nil passes SDP
// through unchanged.
type SDPRewriter func(c *Call, leg string, sdp []byte) []byte
