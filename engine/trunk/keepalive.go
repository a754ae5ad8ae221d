package trunk

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// keepalive probes a trunk with OPTIONS every interval; any answer means
// up, downAfter probes in a row without one mean down.
func (m *Manager) keepalive(ctx context.Context, s Spec) {
	misses := 0
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		code, err := m.probe(ctx, s)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			misses = 0
		} else {
			misses++
		}
		up := misses < m.downAfter
		var was bool
		m.update(s.ID, func(st *State) {
			was = st.Up
			st.Up, st.Misses = up, misses
			switch {
			case err != nil:
				st.LastError = err.Error()
			case st.Failures == 0:
				// Answered, and no registration failure to keep showing.
				st.LastCode, st.LastError = code, ""
			default:
				st.LastCode = code
			}
		})
		if was != up {
			if up {
				m.log.Info("trunk up", "trunk", s.ID, "code", code)
			} else {
				m.log.Warn("trunk down", "trunk", s.ID, "error", err)
			}
		}
		every := m.every
		if s.Keepalive > 0 {
			every = s.Keepalive
		}
		t.Reset(every)
	}
}

func (m *Manager) probe(ctx context.Context, s Spec) (int, error) {
	req, cl, err := m.request(s, sip.OPTIONS)
	if err != nil {
		return 0, err
	}
	// A probe gives up by the next one: a trunk probed every second is
	// not waited for 5 s.
	timeout := m.timeout
	if s.Keepalive > 0 {
		timeout = min(timeout, max(s.Keepalive, time.Second))
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := cl.Do(ctx, req)
	if err != nil {
		return 0, fmt.Errorf("options to %s: %w", s.Host, err)
	}
	return res.StatusCode, nil
}

// request builds an out-of-dialog request to a trunk with our contact.
func (m *Manager) request(s Spec, method sip.RequestMethod) (*sip.Request, clientDoer, error) {
	tr := strings.ToLower(s.Transport)
	if tr == "" {
		tr = "udp"
	}
	cl, err := m.tr.Client(tr)
	if err != nil {
		return nil, nil, err
	}
	host, port := s.Host, 0
	if h, p, err := net.SplitHostPort(s.Host); err == nil {
		host = h
		port, _ = strconv.Atoi(p)
	}
	uri := sip.Uri{Scheme: "sip", Host: host, Port: port}
	req := sip.NewRequest(method, uri)
	req.SetTransport(strings.ToUpper(tr))
	contact := m.tr.Contact(tr)
	user := s.Username
	if user == "" {
		user = "luapbx"
	}
	aor := sip.Uri{Scheme: "sip", User: user, Host: host}
	from := &sip.FromHeader{Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: aor})
	contact.Address.User = user
	req.AppendHeader(&contact)
	return req, cl, nil
}
