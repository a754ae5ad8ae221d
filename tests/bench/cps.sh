#!/usr/bin/env bash
# Calls per second through luapbx: SIPp UAC (authenticating as extension 201)
# -> luapbx -> gateway -> SIPp UAS, no media, all on 127.0.0.1.
#
# It builds luapbx, writes a plan in a temp dir, starts the gateway and
# luapbx, then runs the UAC at rising rates. For each step it prints the
# calls attempted, successful and failed, the rate SIPp reached, luapbx's
# CPU microseconds per call (utime+stime from /proc/<pid>/stat) and its peak
# RSS (VmHWM), and the UDP datagrams the kernel dropped meanwhile for full
# receive buffers (machine-wide, from /proc/net/snmp). At the end: the highest rate held with zero failed calls.
#
# Usage: tests/bench/cps.sh [--quick] [--step SECONDS] [--rates "200 400 ..."]
#   env: STEP_SECONDS (default 30), RATES (default "200 400 600 800 1000 1200"),
#        QUICK=1 (5 s steps at 200 400 600), KEEP=1 keeps the temp dir,
#        PROFILE=prefix saves a CPU profile of luapbx during each step as
#        prefix.<rate>.pprof (serve --pprof; read with `go tool pprof`).
# Needs: go, sipp (Debian: sip-tester).
set -euo pipefail

STEP_SECONDS=${STEP_SECONDS:-30}
RATES=${RATES:-"200 400 600 800 1000 1200"}
QUICK=${QUICK:-0}
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) QUICK=1 ;;
	--step) STEP_SECONDS=$2; shift ;;
	--rates) RATES=$2; shift ;;
	-h | --help) sed -n '2,16p' "$0"; exit 0 ;;
	*) echo "cps.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done
if [ "$QUICK" = 1 ]; then
	STEP_SECONDS=5
	RATES="200 400 600"
fi
case "$STEP_SECONDS" in '' | *[!0-9]*) echo "cps.sh: --step wants whole seconds" >&2; exit 2 ;; esac
[ "$STEP_SECONDS" -ge 1 ] && [ "$STEP_SECONDS" -le 600 ] || { echo "cps.sh: --step must be 1..600" >&2; exit 2; }

command -v sipp >/dev/null || { echo "cps.sh: sipp not installed (apt-get install sip-tester)" >&2; exit 2; }
BENCH=cps.sh
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

echo "building luapbx..."
(cd "$ROOT" && CGO_ENABLED=0 go build -o "$WORK/luapbx" ./cmd/luapbx)
cp "$ROOT/tests/testdata/sipp/uac_auth.xml" "$ROOT/tests/testdata/sipp/uas.xml" "$WORK/"

UAS_PORT=$(free_port)
UAC_PORT=$(free_port)
write_bench_plan "udp:127.0.0.1:0" "34000-34999" 'cdr: "sqlite:var/cdr.db"' ""

# The gateway first, so luapbx's first OPTIONS keepalive finds it up.
(cd "$WORK" && exec sipp -sf uas.xml -i 127.0.0.1 -p "$UAS_PORT" -buff_size 4194304 -nostdin \
	-timeout 3600s >"$WORK/uas.out" 2>&1) &
PIDS+=($!)
sleep 0.5

start_luapbx

cpu_ticks() { ticks_of "$PBX_PID"; }
# udp_drops: datagrams the kernel dropped for full receive buffers, machine-wide.
udp_drops() { snmp_udp RcvbufErrors; }

echo "luapbx $PBX (pid $PBX_PID), gateway 127.0.0.1:$UAS_PORT, ${STEP_SECONDS}s per step, rates: $RATES"
echo "machine: $(nproc) cores; SIPp shares them"
printf '%6s %9s %9s %7s %9s %11s %12s %10s\n' rate attempted ok failed reached cpu_us/call peak_rss_MB udp_drops
BEST=0
for RATE in $RATES; do
	CALLS=$((RATE * STEP_SECONDS))
	STATS="$WORK/uac_$RATE.csv"
	before=$(cpu_ticks)
	drops_before=$(udp_drops)
	start=$(date +%s.%N)
	code=0
	(cd "$WORK" && exec sipp "$PBX" -sf uac_auth.xml -s 9000 -auth_uri "9000@$PBX" \
		-i 127.0.0.1 -p "$UAC_PORT" -r "$RATE" -m "$CALLS" -l $((RATE * 5)) \
		-buff_size 4194304 -nostdin -timeout "$((STEP_SECONDS + 30))s" -timeout_error \
		-trace_stat -stf "$STATS" -fd 1 -trace_err -error_file "$WORK/uac_$RATE.err" >"$WORK/uac_$RATE.out" 2>&1) &
	uac=$!
	PIDS+=($uac)
	if [ -n "${PROFILE:-}" ] && [ "$STEP_SECONDS" -ge 4 ]; then
		secs=$((STEP_SECONDS - 3))
		[ "$secs" -gt 20 ] && secs=20
		(sleep 1; curl -sf -o "$PROFILE.$RATE.pprof" "http://$HTTP/debug/pprof/profile?seconds=$secs" ||
			echo "cps.sh: no profile for rate $RATE" >&2) &
		PIDS+=($!)
	fi
	wait "$uac" || code=$?
	end=$(date +%s.%N)
	after=$(cpu_ticks)
	drops=$(($(udp_drops) - drops_before))
	if [ ! -s "$STATS" ]; then
		echo "cps.sh: sipp UAC exited $code without statistics:" >&2
		tail -20 "$WORK/uac_$RATE.out" >&2
		exit 1
	fi
	attempted=$(stat_of "$STATS" "OutgoingCall(C)")
	ok=$(stat_of "$STATS" "SuccessfulCall(C)")
	failed=$(stat_of "$STATS" "FailedCall(C)")
	# The rate SIPp reached: calls created over the time to create them
	# (the last calls still last 200 ms after the last INVITE).
	reached=$(awk -v n="$attempted" -v s="$start" -v e="$end" 'BEGIN {d = e - s - 0.3; if (d < 0.1) d = 0.1; printf "%.0f", n / d}')
	cpu_us=$(awk -v t=$((after - before)) -v hz="$TCK" -v n="$attempted" 'BEGIN {if (n == 0) print "-"; else printf "%.0f", t * 1e6 / hz / n}')
	rss=$(awk -v kb="$(hwm_kb "$PBX_PID")" 'BEGIN {printf "%.1f", kb / 1024}')
	printf '%6s %9s %9s %7s %9s %11s %12s %10s\n' "$RATE" "$attempted" "$ok" "$failed" "$reached" "$cpu_us" "$rss" "$drops"
	if [ "$code" -ne 0 ] || [ "$failed" -ne 0 ] || [ "$ok" -ne "$CALLS" ]; then
		echo "rate $RATE not held (sipp exit $code): stopping"
		break
	fi
	if [ "$reached" -lt $((RATE * 95 / 100)) ]; then
		echo "rate $RATE: SIPp reached only $reached calls/s (the UAC is the limit): stopping"
		break
	fi
	BEST=$RATE
	sleep 2 # let the last transactions end before the next step
done
echo "highest rate held with zero failed calls: $BEST calls/s (${STEP_SECONDS}s steps)"
