package registrar

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// The bindings survive a restart in one JSON file (WithFile): Run writes it
// at most once a second when they changed, Close writes the last changes,
// New reads it back. A write goes to a temporary file that is synced and
// renamed over the old one, the folder synced after, so a crash leaves the
// old file or the new one, never half of one.

// fileFormat names the file's content; fileVersion its layout.
const (
	fileFormat  = "luapbx-registrations"
	fileVersion = 1
)

// savedFile is the file's content.
type savedFile struct {
	Format   string         `json:"format"`
	Version  int            `json:"version"`
	Saved    time.Time      `json:"saved"`
	Bindings []savedBinding `json:"bindings"`
}

// savedBinding is a Binding as stored: everything the registrar needs to
// take a phone's next REGISTER as a refresh (same contact, call-id and a
// higher CSeq) and to reach the phone meanwhile.
type savedBinding struct {
	AOR        string    `json:"aor"`
	Domain     string    `json:"domain,omitempty"`
	Contact    string    `json:"contact"`
	Source     string    `json:"source"`
	Transport  string    `json:"transport"`
	Expires    time.Time `json:"expires"`
	Registered time.Time `json:"registered"`
	CallID     string    `json:"call_id"`
	CSeq       uint32    `json:"cseq"`
	UserAgent  string    `json:"user_agent,omitempty"`
}

// WithFile keeps the bindings in path across restarts: New loads the live
// ones, Run saves changes at most once a second, Close saves the rest. An
// empty path keeps them in memory only.
func WithFile(path string) Option { return func(r *Registrar) { r.file = path } }

// Close writes the bindings changed since the last save to the file of
// WithFile (nothing without one). Safe twice, and while Run runs; the
// registrar goes on serving after it.
func (r *Registrar) Close() error { return r.save() }

// save writes the bindings when they changed since the last write. saveMu
// serialises writers (Run and Close) so an older snapshot never replaces a
// newer one; it guards the file only, never the bindings, so REGISTERs do
// not wait for the disk.
func (r *Registrar) save() error {
	if r.file == "" {
		return nil
	}
	r.saveMu.Lock()
	defer r.saveMu.Unlock()
	if r.saveOff {
		return nil
	}
	bs, ver := r.st.snapshot()
	if ver == r.savedVer {
		return nil
	}
	err := writeFile(r.file, encodeBindings(bs, r.now()))
	if err != nil {
		if !r.saveFailing {
			r.log.Error("registrations: cannot save; retrying every second (a restart now forgets the changes)",
				"file", r.file, "err", err)
		}
		r.saveFailing = true
		return err
	}
	if r.saveFailing {
		r.log.Info("registrations: saved again", "file", r.file)
	}
	r.saveFailing = false
	r.savedVer = ver
	r.saves.Add(1)
	return nil
}

func encodeBindings(bs []Binding, now time.Time) []byte {
	sort.Slice(bs, func(i, j int) bool {
		if bs[i].AOR != bs[j].AOR {
			return bs[i].AOR < bs[j].AOR
		}
		return bs[i].ContactURI < bs[j].ContactURI
	})
	// One binding a line: readable and diffable, without the cost of
	// indenting the whole document.
	var buf bytes.Buffer
	head, _ := json.Marshal(now.UTC()) // plain fields here and below: cannot fail
	fmt.Fprintf(&buf, "{\"format\": %q, \"version\": %d, \"saved\": %s, \"bindings\": [", fileFormat, fileVersion, head)
	for i, b := range bs {
		line, _ := json.Marshal(savedBinding{
			AOR: b.AOR, Domain: b.Domain, Contact: b.ContactURI, Source: b.Source, Transport: b.Transport,
			Expires: b.Expires.UTC(), Registered: b.Registered.UTC(), CallID: b.CallID, CSeq: b.CSeq, UserAgent: b.UserAgent,
		})
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString("\n  ")
		buf.Write(line)
	}
	buf.WriteString("\n]}\n")
	return buf.Bytes()
}

// writeFile replaces path with data atomically and durably.
func writeFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename: gone already
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// loadStats counts what a load kept and dropped.
type loadStats struct {
	restored, expired, removed, connection, invalid int
}

// load restores the bindings of r.file at start. A missing file is a first
// start. A file that cannot be parsed is logged and moved aside (so no
// save overwrites it unseen), one that cannot be read is logged and left
// alone (saves are off), and the registrar starts empty: losing the
// registrations costs a re-registration, refusing to start costs calls.
func (r *Registrar) load() {
	data, err := os.ReadFile(r.file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return
	case err != nil: // a folder, no permission: not ours to replace
		r.saveOff = true
		r.log.Error("registrations: cannot read the file; starting with no registrations and not saving them "+
			"(phones register again)", "file", r.file, "err", err)
		return
	}
	var f savedFile
	if err := decodeFile(data, &f); err != nil {
		r.setAside(err)
		return
	}
	bs, st := r.liveSaved(f.Bindings)
	dropped := st.expired + st.removed + st.connection + st.invalid
	r.st.restore(bs, dropped > 0)
	r.log.Info("registrations restored", "file", r.file, "restored", st.restored, "expired", st.expired,
		"extension_gone", st.removed, "connection_gone", st.connection, "invalid", st.invalid,
		"saved", f.Saved.Format(time.RFC3339))
}

func decodeFile(data []byte, f *savedFile) error {
	// Unknown fields are let through: a later build may add some.
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(f); err != nil {
		return fmt.Errorf("not registrations JSON: %w", err)
	}
	if dec.More() {
		return errors.New("not registrations JSON: data after the object")
	}
	if f.Format != fileFormat || f.Version != fileVersion {
		return fmt.Errorf("format %q version %d, want %q version %d", f.Format, f.Version, fileFormat, fileVersion)
	}
	return nil
}

// setAside moves a file that could not be loaded out of the way.
func (r *Registrar) setAside(cause error) {
	bad := fmt.Sprintf("%s.corrupt-%s", r.file, r.now().UTC().Format("20060102T150405.000Z"))
	if err := os.Rename(r.file, bad); err != nil {
		r.saveOff = true // keep what is there for a person to look at
		r.log.Error("registrations: cannot load the file nor move it aside; starting with no registrations "+
			"and not saving them (phones register again)", "file", r.file, "err", cause, "move_err", err)
		return
	}
	r.log.Error("registrations: cannot load the file; starting with no registrations (phones register again), "+
		"the file is kept aside", "file", r.file, "moved_to", bad, "err", cause)
}

// liveSaved turns saved bindings back into bindings, dropping the expired,
// those of extensions the users no longer know, those whose connection
// died with the previous process and entries that make no sense. Of two
// entries for one contact the later expiry wins.
func (r *Registrar) liveSaved(saved []savedBinding) ([]Binding, loadStats) {
	now := r.now()
	var st loadStats
	known := map[aorDomain]bool{}
	seen := map[string]int{} // aor + contact key -> index in out
	var out []Binding
	for _, s := range saved {
		var u sip.Uri
		if s.AOR == "" || s.Source == "" || sip.ParseUri(s.Contact, &u) != nil {
			st.invalid++
			continue
		}
		if !s.Expires.After(now) {
			st.expired++
			continue
		}
		if !datagram(s.Transport) {
			st.connection++
			continue
		}
		ad := aorDomain{s.AOR, s.Domain}
		ok, checked := known[ad]
		if !checked {
			_, ok = r.users.Credential(s.Domain, s.AOR)
			known[ad] = ok
		}
		if !ok {
			st.removed++
			continue
		}
		b := Binding{
			AOR: s.AOR, Domain: s.Domain, Contact: u, ContactURI: s.Contact, Source: s.Source, Transport: s.Transport,
			Expires: s.Expires, Registered: s.Registered, CallID: s.CallID, CSeq: s.CSeq, UserAgent: s.UserAgent,
		}
		key := s.AOR + "\x00" + contactKey(&u)
		if i, dup := seen[key]; dup {
			st.invalid++
			if b.Expires.After(out[i].Expires) {
				out[i] = b
			}
			continue
		}
		seen[key] = len(out)
		out = append(out, b)
	}
	st.restored = len(out)
	return out, st
}

// datagram reports whether a binding over transport outlives the process
// that took its REGISTER. Over UDP the source address is all a request
// needs. Over TCP (TLS, WS) requests went back on the phone's own
// connection, which closed with the old process: its source is an
// ephemeral port nothing listens on, and a phone behind NAT cannot be
// connected to at all; the phone saw its connection drop and registers
// again on a new one, so the binding is dropped rather than tried.
func datagram(transport string) bool {
	return transport == "" || strings.EqualFold(transport, "udp")
}
