package luaapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// allowList is scripts.http_allow: exact hosts, host:port pairs and
// "*.suffix" wildcards; empty allows every host.
type allowList []string

func parseAllow(patterns []string) (allowList, error) {
	out := make(allowList, 0, len(patterns))
	for _, p := range patterns {
		p = strings.ToLower(strings.TrimSpace(p))
		if p == "" || strings.Contains(p, "/") {
			return nil, fmt.Errorf("scripts.http_allow: bad entry %q (want host, host:port or *.domain)", p)
		}
		out = append(out, p)
	}
	return out, nil
}

// allows reports whether u's host may be reached.
func (a allowList) allows(u *url.URL) bool {
	if len(a) == 0 {
		return true
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	hostPort := net.JoinHostPort(host, port)
	for _, p := range a {
		switch {
		case p == host || p == hostPort:
			return true
		case strings.HasPrefix(p, "*."):
			suffix := p[1:] // ".example.com"
			if h, pt, err := net.SplitHostPort(p[2:]); err == nil {
				suffix = "." + h
				if pt != port {
					continue
				}
			}
			if strings.HasSuffix(host, suffix) {
				return true
			}
		}
	}
	return false
}

var errNotAllowed = errors.New("host not in scripts.http_allow")

func newHTTPClient(allow allowList) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 16
	tr.ResponseHeaderTimeout = DefaultHTTPTimeout
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("more than 5 redirects")
			}
			if !allow.allows(req.URL) {
				return fmt.Errorf("redirect to %s: %w", req.URL.Host, errNotAllowed)
			}
			return nil
		},
	}
}

// httpReq is one request a script asks for.
type httpReq struct {
	method, url, body string
	headers           map[string]string
	timeout           time.Duration
}

// httpGet is http.get(url[, headers]).
func (p *Program) httpGet(s *state, L *lua.LState) int {
	r := httpReq{method: http.MethodGet, url: L.CheckString(1), headers: headerArg(L, 2)}
	return p.doHTTP(s, L, r)
}

// httpPost is http.post(url, body[, headers]).
func (p *Program) httpPost(s *state, L *lua.LState) int {
	r := httpReq{method: http.MethodPost, url: L.CheckString(1), body: L.CheckString(2), headers: headerArg(L, 3)}
	return p.doHTTP(s, L, r)
}

// httpRequest is http.request{method=, url=, headers=, body=, timeout_ms=}.
func (p *Program) httpRequest(s *state, L *lua.LState) int {
	t := L.CheckTable(1)
	r := httpReq{method: http.MethodGet}
	var bad string
	t.ForEach(func(k, v lua.LValue) {
		switch k.String() {
		case "method":
			r.method = strings.ToUpper(lua.LVAsString(v))
		case "url":
			r.url = lua.LVAsString(v)
		case "body":
			r.body = lua.LVAsString(v)
		case "timeout_ms":
			n, ok := v.(lua.LNumber)
			if !ok || n <= 0 {
				bad = "timeout_ms must be a positive number"
			}
			r.timeout = time.Duration(float64(n) * float64(time.Millisecond))
		case "headers":
			h, ok := v.(*lua.LTable)
			if !ok {
				bad = "headers must be a table"
				return
			}
			r.headers = tableStrings(h)
		default:
			bad = "unknown field " + k.String() + " (want method, url, headers, body, timeout_ms)"
		}
	})
	if bad != "" {
		L.ArgError(1, bad)
	}
	if r.url == "" {
		L.ArgError(1, "url is required")
	}
	return p.doHTTP(s, L, r)
}

func headerArg(L *lua.LState, n int) map[string]string {
	if L.Get(n) == lua.LNil {
		return nil
	}
	return tableStrings(L.CheckTable(n))
}

func tableStrings(t *lua.LTable) map[string]string {
	out := make(map[string]string)
	t.ForEach(func(k, v lua.LValue) { out[k.String()] = v.String() })
	return out
}

// doHTTP runs r within the hook's context (and r.timeout) and pushes the
// response table, or nil and an error message. A routing hook gives its
// concurrency slot back while it waits for the network.
func (p *Program) doHTTP(s *state, L *lua.LState, r httpReq) int {
	ctx := L.Context()
	p.yieldSlot(s)
	resp, err := p.fetch(ctx, r)
	p.resumeSlot(s, ctx)
	if err != nil {
		L.Push(lua.LNil)
		L.Push(lua.LString(err.Error()))
		return 2
	}
	t := L.CreateTable(0, 3)
	t.RawSetString("status", lua.LNumber(resp.status))
	t.RawSetString("body", lua.LString(resp.body))
	h := L.CreateTable(0, len(resp.headers))
	for k, v := range resp.headers {
		h.RawSetString(k, lua.LString(v))
	}
	t.RawSetString("headers", h)
	L.Push(t)
	return 1
}

type httpResp struct {
	status  int
	body    string
	headers map[string]string
}

func (p *Program) fetch(ctx context.Context, r httpReq) (*httpResp, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	timeout := r.timeout
	if timeout <= 0 {
		timeout = DefaultHTTPTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	u, err := url.Parse(r.url)
	if err != nil {
		return nil, fmt.Errorf("bad url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("bad url %q: want http or https", r.url)
	}
	if !p.allow.allows(u) {
		return nil, fmt.Errorf("%s: %w", u.Host, errNotAllowed)
	}
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, r.url, body)
	if err != nil {
		return nil, err
	}
	for k, v := range r.headers {
		req.Header.Set(k, v)
	}
	res, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, p.opts.MaxBody+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > p.opts.MaxBody {
		return nil, fmt.Errorf("response body larger than %d bytes", p.opts.MaxBody)
	}
	out := &httpResp{status: res.StatusCode, body: string(data), headers: make(map[string]string, len(res.Header))}
	for k, vs := range res.Header {
		out.headers[strings.ToLower(k)] = strings.Join(vs, ", ")
	}
	return out, nil
}
