#!/usr/bin/env bash
# RTP through luapbx with recording on: SIPp UAC (authenticating as extension
# 201) -> luapbx -> gateway -> SIPp UAS, both sides streaming G.711 A-law
# (Debian sip-tester's g711a.pcap: PT 8, 236 packets of 30 ms, 7.05 s, played
# PLAYS times per call with play_pcap_audio), all on 127.0.0.1. The rule
# that routes the calls says record: true: each call writes its stereo WAV
# (into the temp dir; the wavs column counts them, then they are deleted).
#
# Each step places N calls (-m N -l N, set up at N/4 per s but at most 50 per
# s: all up within 4 s up to 200 calls, 8 s at 400; with --quick at N/2 per
# s but at most 100: up within 2 s) that overlap, then hang up; the step
# ends when the UAC exits (SIPp's -timeout bounds it). Columns per step:
#   ok, fail   calls SIPp completed / failed; any failure ends the script (exit 1)
#   peak       most calls luapbx had up at once (luapbx_active_calls, each second)
#   sent       calls x 2 sides x PLAYS x pcap packets: what the plays hold
#   pbx_in     RTP luapbx received  (luapbx_rtp_packets_in_total delta)
#   relayed    RTP luapbx sent on   (luapbx_rtp_packets_out_total delta); both
#              counters add up a relay when it ends, so they are read after
#              the last hang-up
#   arrived    datagrams that reached the SIPp media ports: tests/bench/rtpsink
#              binds them all (SIPp does not, see testdata/sipp/media_uac.xml)
#              and counts what it reads there (deltas of its counts file),
#              taken at most up to relayed (more is reported under the table)
#   loss_%     100 x (1 - arrived / sent): end to end, whatever the cause
#              (SIPp late or failing to send, luapbx's socket buffers, the
#              relay, the loopback backlog)
#   cpu_us/pkt luapbx's utime+stime (/proc/<pid>/stat) over the whole step,
#              set-ups, recordings and hang-ups included, / relayed
#   steady_us  luapbx's CPU while all N calls were up / the packets the plays
#              send meanwhile (N x 2 x 33.3 per s): the per-packet cost alone
#   pbx_%1, sipp_%1  CPU of luapbx, of SIPp (UAC + UAS), in % of one core
#   idle%      the machine's idle time (other programs share it too)
#   other_%1   CPU of everything else on the machine (not luapbx, SIPp,
#              rtpsink; kernel threads such as ksoftirqd included), in % of
#              one core: a busy neighbour starves the bench, and the figures
#              of that step are not luapbx's alone
#   rss_MB     luapbx's peak RSS (VmHWM); drops: UDP datagrams the kernel
#              dropped for full receive buffers (machine-wide); pbx_ovfl: those
#              of them dropped at luapbx's RTP sockets, as luapbx reports them
#              when each relay ends (its poller did not read in time; builds
#              from before that report, LUAPBX=old, show 0)
# Steps go on while loss < 0.1 %; at the end: the most concurrent calls held
# at < 0.1 % loss. Where the loss happened: sent - pbx_in - pbx_ovfl never
# reached luapbx (SIPp late: its play threads, one per stream, were
# starved), pbx_ovfl reached it unread, relayed - arrived was lost after it.
# The sink's reads (~2-5 us of CPU a datagram) land on the machine (idle%),
# not on luapbx; as with real phones, which bind their RTP ports, luapbx's
# sends make no ICMP port-unreachable (before the sink they did, on
# luapbx's sendto: __icmp_send, raw_icmp_error, ~13 % of its perf
# samples at 200 calls). Caveat: play_pcap_audio sends through one raw UDP
# socket per play, and Linux hands a clone of every UDP datagram to
# 127.0.0.1 to each of them (2N sockets): a cost that grows with N and lands
# on luapbx's sendto (perf: raw_local_deliver, ~20 % of luapbx's samples at
# 200 calls), so luapbx's CPU here is an upper bound. At 400 calls this
# bench is CPU-bound on 2 cores: perf -a: SIPp 74 % of all samples (57 % of
# them raw_local_deliver, the kernel walking those 800 raw sockets for every
# UDP datagram on the host), luapbx 21 %; SIPp's 800 play threads put
# 30-150 threads on the run queue. Whoever gets less CPU loses packets:
# luapbx's poller (pbx_ovfl) or SIPp's plays (sent late or short).
#
# Usage: tests/bench/media.sh [--quick] [--plays N] [--steps "50 100 ..."]
#   env: PLAYS (default 4: 29 s calls), STEPS (default "50 100 200 300 400"),
#        QUICK=1 (= --quick: 1 play, 8 s calls, steps 50 200, and it
#        overrides PLAYS and STEPS), KEEP=1
#        keeps the temp dir (recordings too), PROFILE=prefix saves a CPU
#        profile of luapbx in each step as prefix.<calls>.pprof (--pprof),
#        LUAPBX=binary runs that build instead of building the tree's,
#        RECORD=0 routes with record: false (to see what recording costs);
#        luapbx sees the environment: LUAPBX_RTP_NICE, LUAPBX_RTP_RTPRIO set
#        its RTP poller's priority (media/rtprelay/README.md).
# Needs: go (luapbx and tests/bench/rtpsink are built into the temp dir),
# sipp (Debian: sip-tester, with its g711a.pcap), curl, ss, root (SIPp plays
# pcaps through raw sockets).
set -euo pipefail

PLAYS=${PLAYS:-4}
STEPS=${STEPS:-"50 100 200 300 400"}
QUICK=${QUICK:-0}
RECORD=${RECORD:-1}
PCAP=${PCAP:-/usr/share/sip-tester/g711a.pcap}
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) QUICK=1 ;;
	--plays) PLAYS=${2:-}; shift ;;
	--steps) STEPS=${2:-}; shift ;;
	-h | --help) sed -n '2,73p' "$0"; exit 0 ;;
	*) echo "media.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done
RAMP_S=4   # the calls of a step are set up over this many seconds...
MAX_RATE=50 # ...but no faster than this many a second
if [ "$QUICK" = 1 ]; then
	PLAYS=1
	STEPS="50 200"
	RAMP_S=2
	MAX_RATE=100
fi
case "$PLAYS" in '' | *[!0-9]*) echo "media.sh: --plays wants a whole number" >&2; exit 2 ;; esac
[ "$PLAYS" -ge 1 ] && [ "$PLAYS" -le 20 ] || { echo "media.sh: --plays must be 1..20" >&2; exit 2; }
case "$RECORD" in 1) RECORD_YAML=true ;; 0) RECORD_YAML=false ;; *) echo "media.sh: RECORD must be 0 or 1" >&2; exit 2 ;; esac
[ -n "$STEPS" ] || { echo "media.sh: --steps is empty" >&2; exit 2; }
for n in $STEPS; do
	case "$n" in '' | *[!0-9]*) echo "media.sh: --steps wants whole numbers, got $n" >&2; exit 2 ;; esac
	[ "$n" -ge 1 ] && [ "$n" -le 2000 ] || { echo "media.sh: a step must be 1..2000 calls" >&2; exit 2; }
done

command -v sipp >/dev/null || { echo "media.sh: sipp not installed (apt-get install sip-tester)" >&2; exit 2; }
command -v curl >/dev/null || { echo "media.sh: curl not installed" >&2; exit 2; }
[ -r "$PCAP" ] || { echo "media.sh: no $PCAP (Debian's sip-tester ships it; or set PCAP=)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "media.sh: SIPp's play_pcap_audio needs raw sockets: run as root" >&2; exit 2; }

# pcap_packets FILE counts the records of a little-endian pcap file.
pcap_packets() {
	local size off=24 n=0 len
	size=$(stat -c %s "$1")
	[ "$(od -An -tx4 -N4 "$1" | tr -d ' ')" = a1b2c3d4 ] || { echo "media.sh: $1 is not a little-endian pcap" >&2; exit 2; }
	while [ "$off" -lt "$size" ]; do
		len=$(od -An -tu4 -j $((off + 8)) -N4 "$1" | tr -d ' ')
		off=$((off + 16 + len))
		n=$((n + 1))
	done
	echo "$n"
}
PKTS=$(pcap_packets "$PCAP")
PLAY_MS=7080 # the pause after each play in media_*.xml: the pcap lasts 7.05 s

BENCH=media.sh
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

# Ports, all below the kernel's ephemeral range (32768-) so that no socket
# of another program lands on them: SIPp's media 2000-11999 (UAC) and
# 12000-21999 (UAS), SIP 24000-29999, luapbx's RTP 30000-31999.
UAC_MP=2000
UAS_MP=12000
sip_port() { free_port 24000 6000; } # a free UDP port for SIP

if [ -n "${LUAPBX:-}" ]; then
	[ -x "$LUAPBX" ] || { echo "media.sh: LUAPBX=$LUAPBX is not an executable" >&2; exit 2; }
	cp "$LUAPBX" "$WORK/luapbx"
else
	echo "building luapbx..."
	(cd "$ROOT" && CGO_ENABLED=0 go build -o "$WORK/luapbx" ./cmd/luapbx)
fi
(cd "$ROOT" && CGO_ENABLED=0 go build -o "$WORK/rtpsink" ./tests/bench/rtpsink) ||
	{ echo "media.sh: could not build tests/bench/rtpsink" >&2; exit 1; }
cp "$ROOT/tests/testdata/sipp/media_uac.xml" "$ROOT/tests/testdata/sipp/media_uas.xml" "$WORK/"
cp "$PCAP" "$WORK/g711a.pcap"

UAS_PORT=$(sip_port)
UAC_PORT=$(sip_port)
PBX_PORT=$(sip_port)
[ "$UAS_PORT" != "$UAC_PORT" ] && [ "$UAS_PORT" != "$PBX_PORT" ] && [ "$UAC_PORT" != "$PBX_PORT" ] ||
	{ echo "media.sh: port clash, try again" >&2; exit 1; }
# rtpsink binds the SIPp media ports the run will use, MP + 4k + 1 (k = call
# number - 1, mod 2500), and counts what arrives (see the header). The UAC's
# call numbers start again at each step, the gateway's go on (OPTIONS pings
# count too, hence 500 more).
max_n=0 sum_n=0
for n in $STEPS; do
	[ "$n" -gt "$max_n" ] && max_n=$n
	sum_n=$((sum_n + n))
done
uas_n=$((sum_n + 500))
[ "$uas_n" -gt 2500 ] && uas_n=2500
SINK_COUNTS="$WORK/sink.counts"
"$WORK/rtpsink" -counts "$SINK_COUNTS" -timeout 3600s \
	-side "uac=$((UAC_MP + 1))-$((UAC_MP + 4 * (max_n - 1) + 1))/4" \
	-side "uas=$((UAS_MP + 1))-$((UAS_MP + 4 * (uas_n - 1) + 1))/4" >"$WORK/rtpsink.out" 2>&1 &
SINK=$!
PIDS+=($SINK)
for _ in $(seq 1 100); do
	[ -s "$SINK_COUNTS" ] && break
	kill -0 "$SINK" 2>/dev/null || break
	sleep 0.1
done
[ -s "$SINK_COUNTS" ] || {
	echo "media.sh: rtpsink could not take SIPp's RTP ports ($max_n from $((UAC_MP + 1)), $uas_n from $((UAS_MP + 1)), step 4):" >&2
	cat "$WORK/rtpsink.out" >&2
	exit 1
}
# sink_arrived prints the datagrams rtpsink has counted on all its ports,
# or fails the script when rtpsink is gone.
sink_arrived() {
	kill -0 "$SINK" 2>/dev/null || { echo "media.sh: rtpsink exited:" >&2; cat "$WORK/rtpsink.out" >&2; exit 1; }
	awk '{n += $2} END {print n + 0}' "$SINK_COUNTS"
}
write_bench_plan "udp:127.0.0.1:$PBX_PORT" "30000-31999" 'cdr: "sqlite:var/cdr.db", recordings: var/recordings' ", record: $RECORD_YAML"

# The gateway first, so luapbx's first OPTIONS keepalive finds it up. Media
# ports: UAS_MP + 4k + 1, UAC_MP + 4k + 1, which rtpsink holds.
(cd "$WORK" && exec sipp -sf media_uas.xml -i 127.0.0.1 -mi 127.0.0.1 -p "$UAS_PORT" -mp "$UAS_MP" \
	-cp 0 -set plays "$PLAYS" -buff_size 4194304 -nostdin -timeout 3600s >"$WORK/uas.out" 2>&1) &
UAS=$!
PIDS+=($UAS)
sleep 0.5
kill -0 "$UAS" 2>/dev/null || { echo "media.sh: the SIPp gateway did not start:" >&2; tail -5 "$WORK/uas.out" >&2; exit 1; }

start_luapbx

# idle_ticks and all_ticks: the machine's CPU time from /proc/stat.
idle_ticks() { awk '/^cpu / {print $5 + $6}' /proc/stat; }
all_ticks() { awk '/^cpu / {s = 0; for (i = 2; i <= 9; i++) s += $i; print s}' /proc/stat; }
# try_metric NAME prints a sample of luapbx's /metrics (0 when absent), or
# nothing when luapbx does not answer within 5 s (it may be overloaded).
try_metric() {
	local out
	out=$(curl -sf -m 5 "http://$HTTP/metrics") || return 0
	awk -v m="$1" '$1 == m {v = $2} END {printf "%.0f\n", v + 0}' <<<"$out"
}
# metric NAME is try_metric that insists: 4 tries, then the script fails.
metric() {
	local v i
	for i in 1 2 3 4; do
		v=$(try_metric "$1")
		[ -n "$v" ] && { echo "$v"; return; }
		kill -0 "$PBX_PID" 2>/dev/null || break
	done
	echo "media.sh: luapbx's /metrics did not answer (is luapbx still up?)" >&2
	tail -5 "$WORK/luapbx.log" >&2
	exit 1
}
curl -sf "http://$HTTP/metrics" | grep -q '^luapbx_rtp_packets_out_total' ||
	{ echo "media.sh: luapbx's /metrics has no luapbx_rtp_packets_out_total" >&2; exit 1; }

CALL_S=$(awk -v p="$PLAYS" -v ms="$PLAY_MS" 'BEGIN {printf "%.1f", (p * ms + 1000) / 1000}')
echo "luapbx $PBX (pid $PBX_PID), gateway 127.0.0.1:$UAS_PORT, calls of ${CALL_S}s ($PLAYS x $PKTS-packet PCMA pcap each way), record: $RECORD_YAML"
echo "machine: $(nproc) cores; SIPp shares them; steps (concurrent calls): $STEPS"
printf '%5s %5s %4s %5s %9s %9s %9s %9s %8s %10s %9s %7s %7s %5s %8s %7s %6s %8s %5s\n' \
	calls ok fail peak sent pbx_in relayed arrived loss_% cpu_us/pkt steady_us pbx_%1 sipp_%1 idle% other_%1 rss_MB drops pbx_ovfl wavs
BEST=0
for N in $STEPS; do
	STATS="$WORK/uac_$N.csv"
	# Set-ups at most MAX_RATE/s: this measures media, cps.sh the call rate.
	RATE=$(((N + RAMP_S - 1) / RAMP_S))
	[ "$RATE" -lt 10 ] && RATE=10
	[ "$RATE" -gt "$MAX_RATE" ] && RATE=$MAX_RATE
	ramp_s=$(((N + RATE - 1) / RATE))
	limit_s=$((ramp_s + PLAYS * PLAY_MS / 1000 + 30))
	in0=$(metric luapbx_rtp_packets_in_total)
	out0=$(metric luapbx_rtp_packets_out_total)
	t0=$(ticks_of "$PBX_PID")
	uas0=$(ticks_of "$UAS")
	sink0=$(ticks_of "$SINK")
	log0=$(wc -l <"$WORK/luapbx.log")
	arrived0=$(sink_arrived)
	noports0=$(snmp_udp NoPorts)
	drops0=$(snmp_udp RcvbufErrors)
	idle0=$(idle_ticks)
	all0=$(all_ticks)
	code=0
	(cd "$WORK" && exec sipp "$PBX" -sf media_uac.xml -s 9000 -auth_uri "9000@$PBX" \
		-i 127.0.0.1 -mi 127.0.0.1 -p "$UAC_PORT" -mp "$UAC_MP" -cp 0 -set plays "$PLAYS" \
		-r "$RATE" -m "$N" -l "$N" -buff_size 4194304 -nostdin -timeout "${limit_s}s" -timeout_error \
		-trace_stat -stf "$STATS" -fd 1 -trace_err -error_file "$WORK/uac_$N.err" >"$WORK/uac_$N.out" 2>&1) &
	uac=$!
	PIDS+=($uac)
	if [ -n "${PROFILE:-}" ]; then
		secs=$((PLAYS * PLAY_MS / 1000 - 2))
		[ "$secs" -gt 20 ] && secs=20
		[ "$secs" -lt 1 ] && secs=1
		(sleep "$ramp_s"; curl -sf -o "$PROFILE.$N.pprof" "http://$HTTP/debug/pprof/profile?seconds=$secs" ||
			echo "media.sh: no profile for step $N" >&2) &
		PIDS+=($!)
	fi
	# While the UAC runs: the most calls luapbx has up, and the UAC's CPU.
	# While all N are up: luapbx's CPU over that window, for the steady figure.
	peak=0
	uac_ticks=0
	w0="" w1=""
	while kill -0 "$uac" 2>/dev/null; do
		a=$(try_metric luapbx_active_calls) # skip a sample it is too busy to give
		[ -n "$a" ] && [ "$a" -gt "$peak" ] && peak=$a
		if [ "$a" = "$N" ]; then
			w1="$(ticks_of "$PBX_PID") $(date +%s.%N)"
			[ -n "$w0" ] || w0=$w1
		fi
		u=$(ticks_of "$uac")
		[ "$u" -gt "$uac_ticks" ] && uac_ticks=$u
		sleep 1
	done
	wait "$uac" || code=$?
	# Relays count their packets when they end: wait for the last hang-ups.
	settle=$((SECONDS + 15))
	while [ "$SECONDS" -lt "$settle" ]; do
		[ "$(try_metric luapbx_active_calls)" = 0 ] && break
		sleep 0.2
	done
	sleep 0.5
	in1=$(metric luapbx_rtp_packets_in_total)
	out1=$(metric luapbx_rtp_packets_out_total)
	t1=$(ticks_of "$PBX_PID")
	uas1=$(ticks_of "$UAS")
	sink1=$(ticks_of "$SINK")
	arrived1=$(sink_arrived)
	# What luapbx's relays said their sockets dropped (one line per leg).
	ovfl=$(tail -n +$((log0 + 1)) "$WORK/luapbx.log" |
		sed -n 's/.*rtp receive buffer overflowed.* dropped=\([0-9]*\).*/\1/p' | awk '{n += $1} END {print n + 0}')
	arrived_all=$((arrived1 - arrived0))
	noports=$(($(snmp_udp NoPorts) - noports0))
	drops=$(($(snmp_udp RcvbufErrors) - drops0))
	idle=$(($(idle_ticks) - idle0))
	all=$(($(all_ticks) - all0))
	if [ ! -s "$STATS" ]; then
		echo "media.sh: sipp UAC exited $code without statistics:" >&2
		tail -20 "$WORK/uac_$N.out" >&2
		exit 1
	fi
	ok=$(stat_of "$STATS" "SuccessfulCall(C)")
	failed=$(stat_of "$STATS" "FailedCall(C)")
	pin=$((in1 - in0))
	relayed=$((out1 - out0))
	sent=$((ok * 2 * PLAYS * PKTS))
	arrived=$arrived_all
	[ "$arrived" -gt "$relayed" ] && arrived=$relayed
	# The wall time of the step, for the CPU shares: from the /proc/stat ticks.
	wall_ticks=$(awk -v a="$all" -v n="$(nproc)" 'BEGIN {printf "%.0f", a / n}')
	row=$(awk -v sent="$sent" -v arr="$arrived" -v rel="$relayed" -v t=$((t1 - t0)) -v hz="$TCK" \
		-v sipp=$((uac_ticks + uas1 - uas0)) -v sink=$((sink1 - sink0)) -v wall="$wall_ticks" -v idle="$idle" -v all="$all" 'BEGIN {
		loss = sent ? 100 * (1 - arr / sent) : 100
		cpu = rel ? sprintf("%.2f", t * 1e6 / hz / rel) : "-"
		if (wall < 1) wall = 1
		if (all < 1) all = 1
		other = all - idle - t - sipp - sink # the busy time no process of the bench had
		if (other < 0) other = 0
		printf "%.3f %s %.0f %.0f %.0f %.0f", loss, cpu, 100 * t / wall, 100 * sipp / wall, 100 * idle / all, 100 * other / wall}')
	read -r loss cpu_us pbx_pct sipp_pct idle_pct other_pct <<<"$row"
	# steady: luapbx's CPU while all N calls were up over the packets the
	# plays send meanwhile (N x 2 x PKTS per PLAY_MS): no set-up or hang-up.
	steady=$(awk -v w0="${w0:-0 0}" -v w1="${w1:-0 0}" -v n="$N" -v pk="$PKTS" -v ms="$PLAY_MS" -v hz="$TCK" 'BEGIN {
		split(w0, a, " "); split(w1, b, " "); d = b[2] - a[2]
		if (d < 2) {print "-"; exit}
		printf "%.2f", (b[1] - a[1]) * 1e6 / hz / (n * 2 * pk * 1000 / ms * d)}')
	rss=$(awk -v kb="$(hwm_kb "$PBX_PID")" 'BEGIN {printf "%.1f", kb / 1024}')
	# One WAV per call proves the recording was on; then they can go.
	wavs=0
	[ -d "$WORK/var/recordings" ] && wavs=$(find "$WORK/var/recordings" -name '*.wav' | wc -l)
	# Kept (KEEP=1) per step, so that the next step counts its own only.
	if [ "${KEEP:-0}" = 1 ] && [ -d "$WORK/var/recordings" ]; then
		mv "$WORK/var/recordings" "$WORK/var/recordings.$N.$SECONDS"
	else
		rm -rf "$WORK/var/recordings"
	fi
	printf '%5s %5s %4s %5s %9s %9s %9s %9s %8s %10s %9s %7s %7s %5s %8s %7s %6s %8s %5s\n' "$N" "$ok" "$failed" "$peak" \
		"$sent" "$pin" "$relayed" "$arrived" "$loss" "$cpu_us" "$steady" "$pbx_pct" "$sipp_pct" "$idle_pct" "$other_pct" \
		"$rss" "$drops" "$ovfl" "$wavs"
	if [ "$code" -ne 0 ] || [ "$failed" -ne 0 ] || [ "$ok" -ne "$N" ]; then
		echo "media.sh: step $N: $failed calls failed, $ok of $N set up (sipp exit $code); see below" >&2
		tail -5 "$WORK/uac_$N.out" >&2
		[ -s "$WORK/uac_$N.err" ] && head -15 "$WORK/uac_$N.err" >&2
		echo "most concurrent calls held at < 0.1% loss: $BEST (before the failing step)"
		exit 1
	fi
	if [ "$RECORD" = 1 ] && [ "$wavs" -ne "$ok" ]; then
		echo "step $N: $wavs recordings for $ok calls"
	fi
	if [ "$arrived_all" -gt "$relayed" ]; then
		echo "step $N: rtpsink counted $((arrived_all - relayed)) more datagrams than luapbx relayed (RTP of the step before, or a relay still up)"
	fi
	if [ "$noports" -gt $((relayed / 1000 + 10)) ]; then
		echo "step $N: $noports datagrams reached closed UDP ports (Udp NoPorts, machine-wide): RTP to ports rtpsink does not bind?"
	fi
	if [ "$other_pct" -ge 20 ]; then
		echo "step $N: other programs used ${other_pct}% of a core meanwhile: the machine was shared, this step's figures are not luapbx's alone"
	fi
	if [ "$arrived" -lt "$sent" ]; then
		# Where the loss happened (see the header): SIPp, luapbx's sockets, after luapbx.
		unsent=$((sent - pin - ovfl))
		[ "$unsent" -lt 0 ] && unsent=0
		# SIPp says when its main loop ran > 500 ms late (-trace_err): it was starved.
		trips=0
		[ -s "$WORK/uac_$N.err" ] && trips=$(grep -o 'watchdog timer [0-9]*ms has been tripped' "$WORK/uac_$N.err" | wc -l)
		echo "step $N: $((sent - arrived)) datagrams lost: $unsent never reached luapbx (SIPp late or short; its UAC's watchdog" \
			"tripped $trips times), $ovfl overflowed luapbx's RTP sockets (its poller did not get the CPU in time)," \
			"$((relayed - arrived)) lost after luapbx; the machine was ${idle_pct}% idle"
	fi
	if awk -v l="$loss" 'BEGIN {exit !(l >= 0.1)}'; then
		echo "step $N: loss ${loss}% >= 0.1%: stopping"
		break
	fi
	[ "$peak" -gt "$BEST" ] && BEST=$peak
	sleep 2
done
echo "most concurrent calls held at < 0.1% loss: $BEST (calls of ${CALL_S}s, record: $RECORD_YAML)"
