package rtprelay

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawSock is a leg's socket once the poller owns its descriptor: read and
// written with recvmmsg/sendmmsg outside Go's network poller.
type rawSock struct {
	fd int
	v6 bool // AF_INET6: IPv4 peers are sent to as v4-mapped addresses
	// own: the relay closes fd itself (it took it from a plain
	// *net.UDPConn, already closed); otherwise the Socket's Close does.
	own bool
}

// fdTaker is a Socket that hands its descriptor over (portpool.Port):
// afterwards the port stays bound, the Socket's own I/O fails and its
// Close closes the descriptor. Its LocalAddr is the address it is bound on,
// which names the socket's family.
type fdTaker interface {
	TakeFD() (int, error)
}

// takeSocket gets a descriptor the poller can own from s, or an error when
// s cannot give one (the relay then reads with goroutines).
func takeSocket(s Socket) (*rawSock, error) {
	if t, ok := s.(fdTaker); ok {
		fd, err := t.TakeFD()
		if err != nil {
			return nil, err
		}
		a, ok := s.LocalAddr().(*net.UDPAddr)
		return &rawSock{fd: fd, v6: !ok || a.IP.To4() == nil}, nil
	}
	c, ok := s.(*net.UDPConn)
	if !ok {
		return nil, errors.New("socket cannot hand over its descriptor")
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var fd int
	var dupErr error
	if err := rc.Control(func(d uintptr) { fd, dupErr = unix.FcntlInt(d, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return nil, err
	}
	if dupErr != nil {
		return nil, fmt.Errorf("dup rtp socket: %w", dupErr)
	}
	// A *net.UDPConn on "0.0.0.0" may be an IPv6 socket: ask the kernel.
	sa, err := unix.Getsockname(fd)
	if err == nil {
		err = unix.SetNonblock(fd, true)
	}
	if err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("rtp socket: %w", err)
	}
	_ = c.Close() // out of Go's poller; the duplicate keeps the socket
	_, v6 := sa.(*unix.SockaddrInet6)
	return &rawSock{fd: fd, v6: v6, own: true}, nil
}

// sockaddrLen is the room for a source or destination address (IPv6).
const sockaddrLen = unix.SizeofSockaddrInet6

// mmsgBatch is the poller's I/O memory: batchMsgs buffers with their
// headers for recvmmsg, and headers for sendmmsg pointing into the same
// buffers (a packet is rewritten in place and sent from where it was read).
type mmsgBatch struct {
	bufs  [batchMsgs][maxPacket]byte
	rname [batchMsgs][sockaddrLen]byte
	riov  [batchMsgs]unix.Iovec
	rmsg  [batchMsgs]unix.Mmsghdr
	sname [batchMsgs][sockaddrLen]byte
	siov  [batchMsgs]unix.Iovec
	smsg  [batchMsgs]unix.Mmsghdr
}

func newMmsgBatch() *mmsgBatch {
	b := new(mmsgBatch)
	for i := range batchMsgs {
		b.riov[i].Base = &b.bufs[i][0]
		b.riov[i].SetLen(maxPacket)
		b.rmsg[i].Hdr.Iov = &b.riov[i]
		b.rmsg[i].Hdr.SetIovlen(1)
		b.rmsg[i].Hdr.Name = &b.rname[i][0]
		b.smsg[i].Hdr.Iov = &b.siov[i]
		b.smsg[i].Hdr.SetIovlen(1)
		b.smsg[i].Hdr.Name = &b.sname[i][0]
	}
	return b
}

// recv reads up to batchMsgs datagrams without blocking; 0 when none.
func (b *mmsgBatch) recv(fd int) (int, error) {
	for i := range batchMsgs {
		b.rmsg[i].Hdr.Namelen = sockaddrLen
		b.rmsg[i].Len = 0
	}
	for {
		n, _, errno := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&b.rmsg[0])),
			batchMsgs, unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0:
			return int(n), nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, nil
		default:
			return 0, errno
		}
	}
}

// packet is datagram i of the last recv and where it came from.
func (b *mmsgBatch) packet(i int) ([]byte, netip.AddrPort) {
	return b.bufs[i][:b.rmsg[i].Len], parseSockaddr(&b.rname[i], b.rmsg[i].Hdr.Namelen)
}

// queue sets send slot k to datagram i (len n) for dst; false when dst
// cannot be reached from this socket (IPv6 on an IPv4 socket).
func (b *mmsgBatch) queue(k, i, n int, dst netip.AddrPort, v6 bool) bool {
	l, ok := putSockaddr(&b.sname[k], dst, v6)
	if !ok {
		return false
	}
	b.siov[k].Base = &b.bufs[i][0]
	b.siov[k].SetLen(n)
	b.smsg[k].Hdr.Namelen = l
	b.smsg[k].Len = 0
	return true
}

// send sends queued slots from..k-1; it returns how many went out before
// the first failure (and that failure).
func (b *mmsgBatch) send(fd, from, k int) (int, error) {
	for {
		n, _, errno := unix.RawSyscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&b.smsg[from])),
			uintptr(k-from), unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0:
			return int(n), nil
		case unix.EINTR:
			continue
		default:
			return 0, errno
		}
	}
}

// sentLen is the length of queued slot k.
func (b *mmsgBatch) sentLen(k int) int { return int(b.siov[k].Len) }

func parseSockaddr(raw *[sockaddrLen]byte, n uint32) netip.AddrPort {
	port := uint16(raw[2])<<8 | uint16(raw[3])
	switch fam := *(*uint16)(unsafe.Pointer(&raw[0])); {
	case fam == unix.AF_INET && n >= unix.SizeofSockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(raw[4:8])), port)
	case fam == unix.AF_INET6 && n >= unix.SizeofSockaddrInet6:
		a := netip.AddrFrom16([16]byte(raw[8:24])).Unmap()
		if scope := *(*uint32)(unsafe.Pointer(&raw[24])); scope != 0 && a.Is6() {
			// A link-local peer: its interface, named as Go's own
			// sockets name it (an IVR's endpoint latches with those).
			a = a.WithZone(zoneName(scope))
		}
		return netip.AddrPortFrom(a, port)
	}
	return netip.AddrPort{}
}

// zones caches interface names by index and back: a link-local peer's
// zone is looked up (a netlink dump) once, not per packet.
var zones struct {
	sync.RWMutex
	name  map[uint32]string
	index map[string]uint32
}

// zoneName is the name of interface index i, or i in decimal when it has
// none (the zone still round-trips through scopeID).
func zoneName(i uint32) string {
	zones.RLock()
	n, ok := zones.name[i]
	zones.RUnlock()
	if ok {
		return n
	}
	n = strconv.FormatUint(uint64(i), 10)
	if ifi, err := net.InterfaceByIndex(int(i)); err == nil && ifi.Name != "" {
		n = ifi.Name
	}
	rememberZone(n, i)
	return n
}

// scopeID is the interface index of an IPv6 zone (a name or a number; 0
// when unknown).
func scopeID(zone string) uint32 {
	if zone == "" {
		return 0
	}
	zones.RLock()
	i, ok := zones.index[zone]
	zones.RUnlock()
	if ok {
		return i
	}
	if n, err := strconv.ParseUint(zone, 10, 32); err == nil {
		i = uint32(n)
	} else if ifi, err := net.InterfaceByName(zone); err == nil {
		i = uint32(ifi.Index)
	}
	rememberZone(zone, i)
	return i
}

func rememberZone(name string, i uint32) {
	zones.Lock()
	defer zones.Unlock()
	if zones.name == nil {
		zones.name, zones.index = map[uint32]string{}, map[string]uint32{}
	}
	if len(zones.index) > 64 { // zones come from packets and SDP: stay small
		clear(zones.name)
		clear(zones.index)
	}
	if i != 0 {
		zones.name[i] = name
	}
	zones.index[name] = i
}

func putSockaddr(raw *[sockaddrLen]byte, dst netip.AddrPort, v6 bool) (uint32, bool) {
	a := dst.Addr()
	port := dst.Port()
	if !v6 {
		if !a.Unmap().Is4() {
			return 0, false
		}
		*raw = [sockaddrLen]byte{}
		*(*uint16)(unsafe.Pointer(&raw[0])) = unix.AF_INET
		raw[2], raw[3] = byte(port>>8), byte(port)
		ip := a.Unmap().As4()
		copy(raw[4:8], ip[:])
		return unix.SizeofSockaddrInet4, true
	}
	*raw = [sockaddrLen]byte{}
	*(*uint16)(unsafe.Pointer(&raw[0])) = unix.AF_INET6
	raw[2], raw[3] = byte(port>>8), byte(port)
	ip := a.As16() // an IPv4 address becomes v4-mapped
	copy(raw[8:24], ip[:])
	*(*uint32)(unsafe.Pointer(&raw[24])) = scopeID(a.Zone())
	return unix.SizeofSockaddrInet6, true
}

func closeFD(fd int) error { return unix.Close(fd) }

// skMeminfoDrops is SK_MEMINFO_DROPS, the index of the drop count in what
// getsockopt(SO_MEMINFO) returns (linux/sock_diag.h; since 4.x).
const skMeminfoDrops = 8

// socketDrops is how many datagrams the kernel dropped on the socket
// (sk_drops: a full receive buffer, mostly), from SO_MEMINFO.
func socketDrops(fd int) (uint64, error) {
	var mem [16]uint32 // SK_MEMINFO_VARS is 9 today; room for more
	l := uint32(unsafe.Sizeof(mem))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_MEMINFO,
		uintptr(unsafe.Pointer(&mem[0])), uintptr(unsafe.Pointer(&l)), 0)
	if errno != 0 {
		return 0, fmt.Errorf("getsockopt SO_MEMINFO: %w", errno)
	}
	if l < (skMeminfoDrops+1)*4 {
		return 0, fmt.Errorf("getsockopt SO_MEMINFO: %d bytes", l)
	}
	return uint64(mem[skMeminfoDrops]), nil
}
