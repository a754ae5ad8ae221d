package rtprelay

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The poller moves the packets of every relay of the process in a few
// goroutines instead of one per leg. On a virtual machine a thread waking
// up costs more than relaying a packet: a goroutine per leg wakes once per
// packet, the poller once per round. A round is: one epoll_wait (not
// blocking) for the sockets with packets, recvmmsg on each, the usual
// per-packet processing, sendmmsg to the other leg, then a sleep until the
// next round. Packets wait at most PollInterval longer than with a
// goroutine per leg (RTP receivers buffer 20-60 ms); while no packet comes
// for a while the poller blocks in epoll_wait instead.
//
// Registration takes the poller's lock, which a round holds while it
// forwards: once unregister returns, the poller no longer touches the
// relay's sockets, so they can be closed.

// PollInterval is the time between two rounds of the poller (Linux): the
// most a packet waits in a socket before it is relayed (1 ms on average,
// well inside a receiver's jitter buffer). Waking up is the costliest part
// of a round: 2 ms costs ~15% less CPU per packet than 1 ms at 100 calls.
// The environment variable LUAPBX_RTP_POLL_INTERVAL (a Go duration up to
// 20ms) overrides it; code may set it before the first relay runs.
var PollInterval = 2 * time.Millisecond

// UsePoller says whether relays on Linux use the poller (true) or a
// goroutine per leg; tests run both. Set it before the first relay runs.
var UsePoller = true

// PollerNice is the nice value of each poller's thread (Linux): -20 (the
// largest share of the CPU) to 19; 0 leaves it alone. A poller is one
// thread carrying every call's media, and a fair scheduler gives it one
// runnable thread's share of a CPU: when other programs keep many threads
// runnable, it reads too little and every socket's buffer overflows. Seen
// with tests/bench/media.sh at 400 calls: SIPp's one thread per played
// stream (800) plus a shared machine made a load average of 20-100 on 2
// cores; at nice 0 the poller ran 6 % of the time and waited for a CPU
// 90 %, and the step lost 6-66 % (median 39 %), mostly overflowing
// luapbx's sockets; at -10 (the weight of ~9 threads) 18-60 %; at -20
// (~87) 0.002-47 %, median 1.7 %, none of it at luapbx's sockets in 7
// runs of 12 (see README.md). Its work is bounded by the packets that
// arrive, so the priority only matters under contention, where media is
// what cannot wait (SIP retransmits). Lowering a nice value needs
// CAP_SYS_NICE or RLIMIT_NICE (systemd: LimitNICE=-20); without it the
// poller keeps the default and says so once. The environment variable
// LUAPBX_RTP_NICE (-20..19) overrides it; code may set it before the first
// relay runs.
var PollerNice = -20

// PollerRTPriority, when 1-99, runs each poller's thread in the real-time
// class (SCHED_RR at that priority) instead: it then always runs before
// ordinary threads, whatever their number or nice value. Off (0) by
// default: it needs CAP_SYS_NICE (or RLIMIT_RTPRIO), and a real-time thread
// that had a bug and spun would hold a CPU (the kernel's RT throttling
// still leaves others 5 %). The poller's rounds are bounded and sleep, so
// it uses what the packets need. Measured with tests/bench/media.sh at 400
// calls: no datagram overflowed luapbx's sockets (the loss left was SIPp
// sending late). LUAPBX_RTP_RTPRIO (0-99) overrides it; when it cannot be
// set the poller falls back to PollerNice.
var PollerRTPriority = 0

const (
	batchMsgs  = 8   // datagrams read from one socket per recvmmsg
	maxReads   = 4   // recvmmsg per socket per round: a flood cannot starve the others
	maxEvents  = 256 // sockets served per epoll_wait
	idleRounds = 50  // empty rounds before blocking in epoll_wait
	// blockWait bounds a blocking epoll_wait, so silent legs still time out.
	blockWait = 250 * time.Millisecond
	// silenceCheck is how often the poller looks for legs past their
	// relay's timeout.
	silenceCheck = 100 * time.Millisecond
)

var (
	// holdP: the pollers get Ps of their own while media flows, so pause
	// may keep its P.
	holdP bool
	// procs guards the Ps added for busy pollers: GOMAXPROCS is
	// procs.base plus one per poller with media flowing.
	procs struct {
		sync.Mutex
		base, busy int
	}
	pollersOnce sync.Once
	pollers     []*poller
	pollersErr  error
	nextPoller  atomic.Uint32
)

// getPoller picks a poller for a new relay (round-robin), starting them on
// first use: one per 8 CPUs, at least one. A poller keeps its P while media
// flows (see pause), so unless GOMAXPROCS is set in the environment the
// runtime gets one P more per poller while its media flows (setBusy): the
// poller's thread sleeps in the kernel most of the time, and the rest of
// the PBX keeps every CPU.
func getPoller(log interface{ Info(string, ...any) }) (*poller, error) {
	pollersOnce.Do(func() {
		if v, err := time.ParseDuration(os.Getenv("LUAPBX_RTP_POLL_INTERVAL")); err == nil && v > 0 && v <= 20*time.Millisecond {
			PollInterval = v
		}
		if v, err := strconv.Atoi(os.Getenv("LUAPBX_RTP_NICE")); err == nil && v >= -20 && v <= 19 {
			PollerNice = v
		}
		if v, err := strconv.Atoi(os.Getenv("LUAPBX_RTP_RTPRIO")); err == nil && v >= 0 && v <= 99 {
			PollerRTPriority = v
		}
		n := 1 + (runtime.GOMAXPROCS(0)-1)/8
		for range n {
			p, err := newPoller()
			if err != nil {
				pollersErr = err
				return
			}
			pollers = append(pollers, p)
		}
		if os.Getenv("GOMAXPROCS") == "" {
			procs.Lock()
			procs.base = runtime.GOMAXPROCS(0)
			procs.Unlock()
			holdP = true
		}
		var prio string
		var prioErr error
		for _, p := range pollers {
			started := make(chan threadPriority, 1)
			go p.run(started)
			tp := <-started
			prio, prioErr = tp.got, errors.Join(prioErr, tp.err)
		}
		log.Info("rtp poller started", "pollers", len(pollers), "interval", PollInterval.String(),
			"gomaxprocs", runtime.GOMAXPROCS(0), "priority", prio)
		if prioErr != nil {
			log.Info("rtp poller priority not as asked: under CPU contention it may fall behind (grant CAP_SYS_NICE, or LUAPBX_RTP_NICE=0 to not ask)",
				"want_nice", PollerNice, "want_rtprio", PollerRTPriority, "err", prioErr.Error())
		}
	})
	if pollersErr != nil {
		return nil, pollersErr
	}
	return pollers[int(nextPoller.Add(1))%len(pollers)], nil
}

// pslot is one registered socket: the direction it feeds.
type pslot struct {
	gen uint32
	f   *forwarder // nil when free
	in  *rawSock
	out *rawSock
}

type poller struct {
	epfd int
	tid  atomic.Int32 // the thread the poller runs on (locked to it)

	mu    sync.Mutex // guards slots and free; held while a round forwards
	slots []pslot
	free  []int32

	// the loop's own
	busy      bool // media flows: the poller has a P of its own (holdP)
	events    [maxEvents]unix.EpollEvent
	io        *mmsgBatch
	lastCheck time.Time
}

func newPoller() (*poller, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return &poller{epfd: fd, io: newMmsgBatch()}, nil
}

// register adds both directions of r (each leg's socket feeds the other);
// the returned ids are for unregister.
func (p *poller) register(r *Relay, fa, fb *forwarder, a, b *rawSock) ([2]int32, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ids [2]int32
	for i, d := range []struct {
		f       *forwarder
		in, out *rawSock
	}{{fa, a, b}, {fb, b, a}} {
		id := p.alloc()
		s := &p.slots[id]
		s.f, s.in, s.out = d.f, d.in, d.out
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: id, Pad: int32(s.gen)}
		if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, d.in.fd, &ev); err != nil {
			p.release(id)
			if i == 1 {
				p.remove(ids[0])
			}
			return ids, err
		}
		ids[i] = id
	}
	return ids, nil
}

// unregister takes a relay's sockets out; the poller does not touch them
// once it returns.
func (p *poller) unregister(ids [2]int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		p.remove(id)
	}
}

func (p *poller) remove(id int32) {
	s := &p.slots[id]
	if s.f == nil {
		return
	}
	_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, s.in.fd, nil)
	p.release(id)
}

func (p *poller) alloc() int32 {
	if n := len(p.free); n > 0 {
		id := p.free[n-1]
		p.free = p.free[:n-1]
		return id
	}
	p.slots = append(p.slots, pslot{})
	return int32(len(p.slots) - 1)
}

// release frees a slot; the new generation makes events already returned
// for it (by an epoll_wait before the removal) stale.
func (p *poller) release(id int32) {
	s := &p.slots[id]
	s.gen++
	s.f, s.in, s.out = nil, nil, nil
	p.free = append(p.free, id)
}

// run is the poller's loop; it never ends (the pollers live as long as the
// process). It first takes a thread of its own and sets its priority, then
// sends the outcome on started.
func (p *poller) run(started chan<- threadPriority) {
	started <- p.takeThread()
	idle := 0
	for {
		wait := 0
		if idle >= idleRounds {
			wait = int(blockWait / time.Millisecond)
		}
		start := time.Now()
		n, err := p.wait(wait)
		if err != nil {
			if !errors.Is(err, unix.EINTR) {
				time.Sleep(PollInterval) // never spin on a failing epoll
			}
			continue
		}
		if n == 0 {
			idle++
			if idle == idleRounds {
				p.setBusy(false)
			}
		} else {
			idle = 0
			p.setBusy(true)
			p.round(n)
		}
		p.checkSilence()
		if idle < idleRounds {
			if d := PollInterval - time.Since(start); d > 0 {
				pause(d)
			}
		}
	}
}

// setBusy adds a P for the poller when media starts flowing and takes it
// away once the poller blocks idle (holdP only). A P kept while idle would
// leave the rest of the PBX one P more than the CPUs it was sized for (3 on
// 2 cores): the scheduler spinning on it cost signalling ~20 % more CPU
// per call when no media flowed (tests/bench/cps.sh). Changing GOMAXPROCS
// stops the world for ~60 us; it happens when media starts after 100 ms of
// none and when it stops.
func (p *poller) setBusy(busy bool) {
	if !holdP || p.busy == busy {
		return
	}
	p.busy = busy
	procs.Lock()
	defer procs.Unlock()
	if busy {
		procs.busy++
	} else {
		procs.busy--
	}
	runtime.GOMAXPROCS(procs.base + procs.busy)
}

// threadPriority is what takeThread set ("rr:N", "nice:N" or "default")
// and why it could not do what was asked.
type threadPriority struct {
	got string
	err error
}

// takeThread locks the poller to its thread, so that the thread's
// priority serves the poller alone, and gives it PollerRTPriority or else
// PollerNice. Threads the runtime starts meanwhile do not inherit it: a
// locked thread has the runtime's template thread create them.
func (p *poller) takeThread() threadPriority {
	runtime.LockOSThread()
	tid := unix.Gettid()
	p.tid.Store(int32(tid))
	var errs []error
	if PollerRTPriority > 0 {
		attr := unix.SchedAttr{Policy: unix.SCHED_RR, Priority: uint32(PollerRTPriority), Flags: unix.SCHED_FLAG_RESET_ON_FORK}
		err := unix.SchedSetAttr(tid, &attr, 0)
		if err == nil {
			return threadPriority{got: "rr:" + strconv.Itoa(PollerRTPriority)}
		}
		errs = append(errs, fmt.Errorf("rtp poller: SCHED_RR %d: %w", PollerRTPriority, err))
	}
	if PollerNice == 0 {
		return threadPriority{got: "default", err: errors.Join(errs...)}
	}
	// PRIO_PROCESS with a thread id sets that thread only (Linux).
	if err := unix.Setpriority(unix.PRIO_PROCESS, tid, PollerNice); err != nil {
		errs = append(errs, fmt.Errorf("rtp poller: set nice %d: %w", PollerNice, err))
		return threadPriority{got: "default", err: errors.Join(errs...)}
	}
	return threadPriority{got: "nice:" + strconv.Itoa(PollerNice), err: errors.Join(errs...)}
}

// wait is epoll_wait: a blocking one (ms > 0) through the scheduler, which
// may give this goroutine's P to others meanwhile; a non-blocking one as a
// raw syscall.
func (p *poller) wait(ms int) (int, error) {
	if ms > 0 {
		return unix.EpollWait(p.epfd, p.events[:], ms)
	}
	n, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(p.epfd),
		uintptr(unsafe.Pointer(&p.events[0])), maxEvents, 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// pause sleeps between rounds as a raw syscall: to the scheduler the
// goroutine keeps running, so its P is not handed over and nothing else
// wakes (time.Sleep would wake the runtime's timer thread, a blocking
// syscall would keep sysmon polling every 20 us to retake the P). The
// poller thus holds a P while media flows, as a media thread would; every
// 10 ms the runtime preempts it (the signal ends the sleep early), which
// lets GC and other goroutines in.
//
// With GOMAXPROCS set in the environment no P was added, and a poller
// keeping one of those would starve the rest (all of it with GOMAXPROCS=1):
// it then sleeps in a blocking syscall, which lets the runtime hand its P
// over, at the cost of sysmon's wake-ups.
func pause(d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	if !holdP {
		_ = unix.Nanosleep(&ts, nil)
		return
	}
	_, _, _ = unix.RawSyscall(unix.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), 0, 0)
}

// round forwards what the first n events announce.
func (p *poller) round(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range n {
		ev := &p.events[i]
		if int(ev.Fd) >= len(p.slots) {
			continue
		}
		s := &p.slots[ev.Fd]
		if s.f == nil || s.gen != uint32(ev.Pad) {
			continue // unregistered since
		}
		p.serve(s)
	}
}

// serve reads what one socket holds (up to maxReads x batchMsgs
// datagrams; the rest waits for the next round) and sends it on.
func (p *poller) serve(s *pslot) {
	b, f := p.io, s.f
	for range maxReads {
		n, err := b.recv(s.in.fd)
		if err != nil {
			f.r.log.Debug("rtp read failed", "leg", f.in.id.String(), "err", err)
			return
		}
		if n == 0 {
			return
		}
		at := time.Now()
		k := 0
		for i := range n {
			pkt, src := b.packet(i)
			dst, ok := f.process(pkt, src, at)
			if !ok {
				continue
			}
			if !b.queue(k, i, len(pkt), dst, s.out.v6) {
				f.in.dropped.Add(1)
				continue
			}
			k++
		}
		for from := 0; from < k; {
			sent, err := b.send(s.out.fd, from, k)
			for j := from; j < from+sent; j++ {
				f.out.pktOut.Add(1)
				f.out.bytesOut.Add(uint64(b.sentLen(j)))
			}
			from += sent
			if err != nil || sent == 0 {
				f.in.dropped.Add(1) // the datagram at from failed: skip it
				from++
			}
		}
		if n < batchMsgs {
			return // the socket is empty
		}
	}
}

// checkSilence tells relays whose legs went silent, at most every
// silenceCheck.
func (p *poller) checkSilence() {
	now := time.Now()
	if now.Sub(p.lastCheck) < silenceCheck {
		return
	}
	p.lastCheck = now
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range p.slots {
		s := &p.slots[i]
		if s.f == nil || s.f.in.id != A { // one slot per relay
			continue
		}
		r := s.f.r
		if r.tmo <= 0 {
			continue
		}
		if err := r.checkSilence(); err != nil {
			select {
			case r.timedOut <- err:
			default: // already told
			}
		}
	}
}
