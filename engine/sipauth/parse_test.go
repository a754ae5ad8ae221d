package sipauth

import (
	"strings"
	"testing"

	"github.com/icholy/digest"
)

func TestParseCreds(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
		want creds
	}{
		{"typical", `Digest username="201", realm="pbx.test", nonce="n1", uri="sip:pbx.test", response="abc", algorithm=MD5, qop=auth, nc=00000001, cnonce="c1", opaque="o"`,
			true, creds{username: "201", realm: "pbx.test", nonce: "n1", uri: "sip:pbx.test", response: "abc", algorithm: "MD5", qop: "auth", nc: "00000001", cnonce: "c1", opaque: "o"}},
		{"case and spacing", "digest  USERNAME = \"a\" ,realm=\"r\"\t, NC=0000000a ", true, creds{username: "a", realm: "r", nc: "0000000a"}},
		{"escaped quote", `Digest username="a\"b", realm="r"`, true, creds{username: `a"b`, realm: "r"}},
		{"comma inside quotes", `Digest uri="sip:a,b", realm="r"`, true, creds{uri: "sip:a,b", realm: "r"}},
		{"userhash", `Digest username="x", userhash=true`, true, creds{username: "x", userhash: true}},
		{"not digest", `Basic abc`, false, creds{}},
		{"digest only", `Digest`, false, creds{}},
		{"unterminated quote", `Digest username="abc`, false, creds{}},
		{"missing equals", `Digest username "abc"`, false, creds{}},
		{"garbage between", `Digest username="a" realm="r"`, false, creds{}},
		{"empty value", `Digest username=, realm="r"`, false, creds{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseCreds(tc.in)
			if ok != tc.ok || (ok && got != tc.want) {
				t.Fatalf("parseCreds = %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestValidNC(t *testing.T) {
	for in, want := range map[string]bool{"00000001": true, "0000000A": true, "00000000": false, "1": false, "0000000g": false, "000000001": false} {
		if got := validNC(in); got != want {
			t.Errorf("validNC(%q) = %v", in, got)
		}
	}
}

// FuzzParseCreds checks our parser against the library's on every header
// both accept: they must agree on the fields.
func FuzzParseCreds(f *testing.F) {
	f.Add(`Digest username="201", realm="pbx.test", nonce="n", uri="sip:x", response="r", qop=auth, nc=00000001, cnonce="c"`)
	f.Add(`Digest username="a\"b"`)
	f.Add(`Digest a=b,c="d"`)
	f.Fuzz(func(t *testing.T, h string) {
		got, ok := parseCreds(h)
		if !ok {
			return
		}
		if strings.ToLower(h) != h {
			return // the library matches parameter names case-sensitively
		}
		ref, err := digest.ParseCredentials(h)
		if err != nil {
			return // the library is stricter on some token characters
		}
		if got.username != ref.Username || got.realm != ref.Realm || got.nonce != ref.Nonce ||
			got.uri != ref.URI || got.response != ref.Response || got.cnonce != ref.Cnonce || got.opaque != ref.Opaque {
			t.Fatalf("%q: ours %+v, library %+v", h, got, ref)
		}
	})
}

func BenchmarkParseCreds(b *testing.B) {
	h := `Digest username="201", realm="pbx.test", nonce="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", uri="sip:202@pbx.test", response="0123456789abcdef0123456789abcdef", algorithm=MD5, qop=auth, nc=00000001, cnonce="c1", opaque="o"`
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := parseCreds(h); !ok {
			b.Fatal("parse")
		}
	}
}
