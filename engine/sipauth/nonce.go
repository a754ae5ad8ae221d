package sipauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"time"
)

// A nonce is base64url(ts || mac) where ts is the issue time in Unix
// nanoseconds (8 bytes, big endian) and mac the first 16 bytes of
// HMAC-SHA256(secret, "nonce:" realm ts ip), ip being the source address
// the challenge went to (empty when binding is off): a nonce captured on
// the wire is useless from another address.
const (
	nonceTSLen  = 8
	nonceMACLen = 16
	nonceRawLen = nonceTSLen + nonceMACLen
)

var nonceEnc = base64.RawURLEncoding

// NewNonce returns a fresh nonce for the current time and source ip.
func (a *Auth) NewNonce(ip string) string {
	var raw [nonceRawLen]byte
	binary.BigEndian.PutUint64(raw[:nonceTSLen], uint64(a.now().UnixNano()))
	a.nonceMAC(raw[:nonceTSLen], a.bound(ip), raw[nonceTSLen:nonceTSLen:nonceRawLen])
	return nonceEnc.EncodeToString(raw[:])
}

func (a *Auth) bound(ip string) string {
	if a.noIPBinding {
		return ""
	}
	return ip
}

// nonceState tells whether a nonce is ours and still fresh.
type nonceState int

const (
	nonceValid nonceState = iota
	nonceExpired
	nonceForged
)

// checkNonce verifies the nonce's MAC and age. A nonce issued in the future
// (beyond one second of clock skew) is treated as forged.
func (a *Auth) checkNonce(nonce, ip string) nonceState {
	if nonceEnc.DecodedLen(len(nonce)) != nonceRawLen {
		return nonceForged
	}
	var raw [nonceRawLen]byte
	if n, err := nonceEnc.Decode(raw[:], []byte(nonce)); err != nil || n != nonceRawLen {
		return nonceForged
	}
	var want [nonceMACLen]byte
	a.nonceMAC(raw[:nonceTSLen], a.bound(ip), want[:0])
	if !hmac.Equal(want[:], raw[nonceTSLen:]) {
		return nonceForged
	}
	issued := time.Unix(0, int64(binary.BigEndian.Uint64(raw[:nonceTSLen])))
	age := a.now().Sub(issued)
	switch {
	case age < -time.Second:
		return nonceForged
	case age > a.ttl:
		return nonceExpired
	}
	return nonceValid
}

// nonceMAC appends the truncated MAC of ts to dst.
func (a *Auth) nonceMAC(ts []byte, ip string, dst []byte) []byte {
	m := a.macs.Get().(hash.Hash)
	defer a.macs.Put(m)
	m.Reset()
	m.Write([]byte("nonce:"))
	m.Write([]byte(a.realm))
	m.Write(ts)
	m.Write([]byte(ip))
	var sum [sha256.Size]byte
	return append(dst, m.Sum(sum[:0])[:nonceMACLen]...)
}

func (a *Auth) macHex(s string) string {
	m := hmac.New(sha256.New, a.secret)
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil))
}
