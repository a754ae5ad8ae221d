#!/usr/bin/env bash
# The floor under cps.sh: what sipgo alone costs per call on this machine.
#
# tests/bench/sipfloor (a sipgo server that answers INVITE with 100/180/200
# and BYE with 200 through sipgo's transaction layer, nothing else) is
# driven by SIPp's built-in UAC scenario on 127.0.0.1. For each rate it
# prints the calls, failures, and the server's CPU microseconds per call and
# per SIP message (7 per call: INVITE, 100, 180, 200, ACK, BYE, 200), from
# utime+stime in /proc/<pid>/stat. A call through luapbx is about 17
# messages (INVITE, 407, ACK, INVITE, 100 and INVITE, 100, 180, 200, ACK
# on the two legs, BYE and 200 on each), so 17 x the per-message figure is
# what sipgo's transaction layer alone would cost a B2BUA call here.
#
# Usage: tests/bench/sipfloor.sh [--step SECONDS] [--rates "500 1000"]
# Needs: go, sipp (Debian: sip-tester).
set -euo pipefail

STEP_SECONDS=10
RATES="500 1000"
while [ $# -gt 0 ]; do
	case "$1" in
	--step) STEP_SECONDS=$2; shift ;;
	--rates) RATES=$2; shift ;;
	-h | --help) sed -n '2,16p' "$0"; exit 0 ;;
	*) echo "sipfloor.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done
case "$STEP_SECONDS" in '' | *[!0-9]*) echo "sipfloor.sh: --step wants whole seconds" >&2; exit 2 ;; esac
[ "$STEP_SECONDS" -ge 1 ] && [ "$STEP_SECONDS" -le 300 ] || { echo "sipfloor.sh: --step must be 1..300" >&2; exit 2; }
command -v sipp >/dev/null || { echo "sipfloor.sh: sipp not installed (apt-get install sip-tester)" >&2; exit 2; }

BENCH=sipfloor.sh
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

echo "building sipfloor..."
(cd "$ROOT" && CGO_ENABLED=0 go build -o "$WORK/sipfloor" ./tests/bench/sipfloor)
SRV_PORT=$(free_port)
UAC_PORT=$(free_port)
"$WORK/sipfloor" "127.0.0.1:$SRV_PORT" >"$WORK/sipfloor.log" 2>&1 &
SRV=$!
PIDS+=($SRV)
for _ in $(seq 1 50); do
	grep -q "sipfloor ready" "$WORK/sipfloor.log" && break
	kill -0 "$SRV" 2>/dev/null || { cat "$WORK/sipfloor.log" >&2; exit 1; }
	sleep 0.1
done

cpu_ticks() { ticks_of "$SRV"; }
echo "sipfloor 127.0.0.1:$SRV_PORT (pid $SRV), ${STEP_SECONDS}s per step; machine: $(nproc) cores, SIPp shares them"
printf '%6s %9s %9s %7s %11s %10s\n' rate attempted ok failed cpu_us/call cpu_us/msg
for RATE in $RATES; do
	CALLS=$((RATE * STEP_SECONDS))
	STATS="$WORK/uac_$RATE.csv"
	before=$(cpu_ticks)
	code=0
	(cd "$WORK" && exec sipp "127.0.0.1:$SRV_PORT" -sn uac -d 0 -i 127.0.0.1 -p "$UAC_PORT" -r "$RATE" -m "$CALLS" \
		-l $((RATE * 5)) -buff_size 4194304 -nostdin -timeout "$((STEP_SECONDS + 20))s" \
		-trace_stat -stf "$STATS" -fd 1 >"$WORK/uac_$RATE.out" 2>&1) || code=$?
	after=$(cpu_ticks)
	[ -s "$STATS" ] || { echo "sipfloor.sh: sipp exited $code without statistics" >&2; tail -20 "$WORK/uac_$RATE.out" >&2; exit 1; }
	attempted=$(stat_of "$STATS" "OutgoingCall(C)")
	ok=$(stat_of "$STATS" "SuccessfulCall(C)")
	failed=$(stat_of "$STATS" "FailedCall(C)")
	awk -v t=$((after - before)) -v hz="$TCK" -v n="$attempted" -v r="$RATE" -v a="$attempted" -v o="$ok" -v f="$failed" \
		'BEGIN {us = n ? t * 1e6 / hz / n : 0; printf "%6s %9s %9s %7s %11.0f %10.1f\n", r, a, o, f, us, us / 7}'
	sleep 2
done
