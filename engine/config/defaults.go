package config

// Defaults, as in DESIGN.md. A key left out of the file keeps its default;
// a key written with an empty value means what it says.
const (
	DefaultHTTP             = "127.0.0.1:8080"
	DefaultRTPPorts         = "20000-20999"
	DefaultCDR              = "sqlite:var/cdr.db"
	DefaultRecordings       = "var/recordings"
	DefaultVoicemail        = "var/voicemail"
	DefaultRegistrations    = "var/registrations.json"
	DefaultTimeoutMS        = 50
	DefaultEventTimeoutMS   = 2000
	DefaultEvents           = "integration"
	DefaultBanAfterFailures = 5
	DefaultBanWindowSeconds = 60
	DefaultBanSeconds       = 600
	DefaultMaxCalls         = 500
	DefaultRingSeconds      = 30
	DefaultIVRTimeout       = 5
	DefaultStrategy         = "ringall"
	DefaultTransport        = "udp"
)

// DefaultSIP is the default listen.sip.
// DefaultDigestAlgorithms is what challenges offer unless
// security.digest_algorithms says otherwise.
var DefaultDigestAlgorithms = []string{"MD5"}

var DefaultSIP = []string{"udp:127.0.0.1:5060", "tcp:127.0.0.1:5060"}

func (c *Config) setDefaults() {
	c.Listen = Listen{SIP: append([]string(nil), DefaultSIP...), HTTP: DefaultHTTP, RTPPorts: DefaultRTPPorts}
	c.Storage = Storage{CDR: DefaultCDR, Recordings: DefaultRecordings, Voicemail: DefaultVoicemail,
		Registrations: DefaultRegistrations}
	c.Scripts = Scripts{TimeoutMS: DefaultTimeoutMS, EventTimeoutMS: DefaultEventTimeoutMS, Events: DefaultEvents}
	c.Security = Security{
		BanAfterFailures: DefaultBanAfterFailures, BanWindowSeconds: DefaultBanWindowSeconds,
		BanSeconds: DefaultBanSeconds, MaxCalls: DefaultMaxCalls,
		DigestAlgorithms: append([]string(nil), DefaultDigestAlgorithms...),
	}
}

func (e *Extension) setDefaults() { e.RingSeconds = DefaultRingSeconds }

func (g *Group) setDefaults() { g.Strategy, g.RingSeconds = DefaultStrategy, DefaultRingSeconds }

func (v *IVR) setDefaults() { v.TimeoutSeconds = DefaultIVRTimeout }

func (t *Trunk) setDefaults() { t.Transport = DefaultTransport }

func (r *Rule) setDefaults() { r.Enabled = true }
