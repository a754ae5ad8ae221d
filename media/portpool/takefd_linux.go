package portpool

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// TakeFD hands the socket's descriptor to a caller that polls it itself
// (media/rtprelay's poller): the port stays bound and taken, the Go network
// poller lets go of it, and the Port's own reads and writes fail from now
// on. Close still closes the descriptor and returns the port. It works
// once.
func (p *Port) TakeFD() (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fd >= 0 || p.closed {
		return -1, errors.New("rtp port: descriptor already taken or closed")
	}
	rc, err := p.UDPConn.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("rtp port %d: %w", p.num, err)
	}
	fd := -1
	var dupErr error
	if err := rc.Control(func(s uintptr) {
		fd, dupErr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, fmt.Errorf("rtp port %d: %w", p.num, err)
	}
	if dupErr != nil {
		return -1, fmt.Errorf("rtp port %d: dup: %w", p.num, dupErr)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		_ = unix.Close(fd)
		return -1, fmt.Errorf("rtp port %d: %w", p.num, err)
	}
	// The duplicate keeps the socket (and the port) open; closing the
	// original takes it out of Go's poller, which would otherwise wake for
	// every packet nobody waits for.
	_ = p.UDPConn.Close()
	p.fd = fd
	return fd, nil
}

func closeFD(fd int) error { return unix.Close(fd) }
