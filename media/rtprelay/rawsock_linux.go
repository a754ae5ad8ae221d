package rtprelay

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
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
// Close closes the descriptor.
type fdTaker interface {
	TakeFD() (int, error)
}

// takeSocket gets a descriptor the poller can own from s, or an error when
// s cannot give one (the relay then reads with goroutines).
func takeSocket(s Socket) (*rawSock, error) {
	var fd int
	own := false
	switch s := s.(type) {
	case fdTaker:
		var err error
		if fd, err = s.TakeFD(); err != nil {
			return nil, err
		}
	case *net.UDPConn:
		rc, err := s.SyscallConn()
		if err != nil {
			return nil, err
		}
		var dupErr error
		if err := rc.Control(func(d uintptr) { fd, dupErr = unix.FcntlInt(d, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
			return nil, err
		}
		if dupErr != nil {
			return nil, fmt.Errorf("dup rtp socket: %w", dupErr)
		}
		if err := unix.SetNonblock(fd, true); err != nil {
			_ = unix.Close(fd)
			return nil, err
		}
		_ = s.Close() // out of Go's poller; the duplicate keeps the socket
		own = true
	default:
		return nil, errors.New("socket cannot hand over its descriptor")
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		if own {
			_ = unix.Close(fd)
		}
		return nil, fmt.Errorf("rtp socket: %w", err)
	}
	_, v6 := sa.(*unix.SockaddrInet6)
	return &rawSock{fd: fd, v6: v6, own: own}, nil
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
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte(raw[8:24])).Unmap(), port)
	}
	return netip.AddrPort{}
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
