// Command sipfloor is the smallest SIP server sipgo makes: it answers every
// INVITE with 100, 180 and 200, takes the ACK and answers BYE, through
// sipgo's transaction layer, and does nothing else. tests/bench/sipfloor.sh
// drives it with SIPp to measure what sipgo itself costs per call on this
// machine: the floor under luapbx's own figure from cps.sh.
//
// Usage: sipfloor 127.0.0.1:PORT
package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: sipfloor 127.0.0.1:PORT")
		os.Exit(2)
	}
	conn, err := net.ListenPacket("udp", os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "sipfloor:", err)
		os.Exit(1)
	}
	local := conn.LocalAddr().(*net.UDPAddr)
	slog.SetLogLoggerLevel(slog.LevelError)
	ua, err := sipgo.NewUA()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sipfloor:", err)
		os.Exit(1)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sipfloor:", err)
		os.Exit(1)
	}
	contact := "<sip:floor@" + local.IP.String() + ":" + strconv.Itoa(local.Port) + ">"
	srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		tag := sip.GenerateTagN(8)
		respond := func(code int, reason string) {
			r := sip.NewResponseFromRequest(req, code, reason, nil)
			if code > 100 {
				r.To().Params.Add("tag", tag)
				r.AppendHeader(sip.NewHeader("Contact", contact))
			}
			_ = tx.Respond(r)
		}
		respond(100, "Trying")
		respond(180, "Ringing")
		respond(200, "OK")
	})
	srv.OnAck(func(*sip.Request, sip.ServerTransaction) {})
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	fmt.Println("sipfloor ready", local.String())
	if err := srv.ServeUDP(conn); err != nil {
		fmt.Fprintln(os.Stderr, "sipfloor:", err)
		os.Exit(1)
	}
}
