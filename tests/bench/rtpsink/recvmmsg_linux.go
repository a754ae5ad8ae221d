package main

import (
	"syscall"
	"unsafe"
)

// batchLen is how many datagrams one recvmmsg(2) takes at most.
const batchLen = 16

// mmsghdr is struct mmsghdr: Go pads it to the alignment of Msghdr as C does.
type mmsghdr struct {
	hdr syscall.Msghdr
	n   uint32 // msg_len: the datagram's length (MSG_TRUNC: even if cut)
}

// reader holds recvmmsg's vectors and buffers; one goroutine uses it.
type reader struct {
	hdrs [batchLen]mmsghdr
	iovs [batchLen]syscall.Iovec
	bufs [batchLen][2048]byte
}

func newReader() *reader {
	r := &reader{}
	for i := range r.hdrs {
		r.iovs[i].Base = &r.bufs[i][0]
		r.iovs[i].SetLen(len(r.bufs[i]))
		r.hdrs[i].hdr.Iov = &r.iovs[i]
		r.hdrs[i].hdr.Iovlen = 1
	}
	return r
}

// recv takes up to batchLen datagrams from the non-blocking socket fd and
// returns how many; their lengths are in r.hdrs[i].n. Only the counts
// matter, so longer datagrams are cut to the buffer (MSG_TRUNC still gives
// their full length).
//
// It is a raw system call (no scheduler hand-off): the socket does not block.
func (r *reader) recv(fd int) (int, error) {
	n, _, errno := syscall.RawSyscall6(syscall.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&r.hdrs[0])),
		batchLen, syscall.MSG_DONTWAIT|syscall.MSG_TRUNC, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// epollPoll returns the ready events of epfd without waiting (epoll_pwait
// with timeout 0, as a raw system call since it cannot block).
func epollPoll(epfd int, events []syscall.EpollEvent) (int, error) {
	n, _, errno := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])),
		uintptr(len(events)), 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}
