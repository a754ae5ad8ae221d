package recorder

import (
	"path/filepath"
	"strings"
	"time"
)

// maxNameLen bounds the file name taken from a Call-ID.
const maxNameLen = 128

// Path returns root/YYYY/MM/DD/<call-id>.wav for a call that started at t
// (in t's location). The Call-ID comes from the network, so it is reduced
// to a safe file name: characters other than letters, digits and ._@+=-
// become '_', a leading '.' is escaped and the name is cut at 128 bytes.
func Path(root string, t time.Time, callID string) string {
	return filepath.Join(root, t.Format("2006"), t.Format("01"), t.Format("02"), SafeName(callID)+".wav")
}

// SafeName turns a Call-ID into a file name with no path separators.
func SafeName(callID string) string {
	var b strings.Builder
	for i := 0; i < len(callID) && b.Len() < maxNameLen; i++ {
		c := callID[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '.', c == '_', c == '@', c == '+', c == '=', c == '-':
			b.WriteByte(c)
		default:
			b.WriteByte('_')
		}
	}
	s := b.String()
	if s == "" || s[0] == '.' {
		s = "_" + s
	}
	return s
}
