# Shared by the benchmark scripts of tests/bench: source it after setting
# BENCH (the script's name, for messages). It sets ROOT (the repository) and
# WORK (a temp dir, removed at exit unless KEEP=1), kills the PIDS the
# script started at exit, and defines the helpers below.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORK=$(mktemp -d "/tmp/luapbx-$BENCH.XXXXXX")
PIDS=()
bench_cleanup() {
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [ "${KEEP:-0}" = 1 ]; then
		echo "kept $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# free_port [BASE SPAN] prints a UDP port on 127.0.0.1 nobody listens on,
# from BASE..BASE+SPAN-1 (default 20000..59999).
free_port() {
	local base=${1:-20000} span=${2:-40000} p i
	for i in $(seq 1 50); do
		p=$((base + RANDOM % span))
		if ! ss -Hlun "sport = :$p" 2>/dev/null | grep -q .; then
			echo "$p"
			return
		fi
	done
	echo "$BENCH: no free UDP port found" >&2
	exit 1
}

TCK=$(getconf CLK_TCK)
# ticks_of PID prints the process's CPU time (utime + stime) in clock ticks.
ticks_of() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# snmp_udp COLUMN prints a Udp counter of /proc/net/snmp (machine-wide).
snmp_udp() { awk -v col="$1" '/^Udp:/ {n++; if (n == 1) for (i = 1; i <= NF; i++) if ($i == col) c = i; if (n == 2) print $c}' /proc/net/snmp; }
# hwm_kb PID prints the process's peak RSS in KiB.
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
# stat_of FILE COLUMN prints COLUMN of the last line of a SIPp stats CSV.
stat_of() {
	awk -F';' -v col="$2" -v who="$BENCH" 'NR == 1 {for (i = 1; i <= NF; i++) if ($i == col) c = i; next}
		{v = $c} END {if (!c) {print who ": no column " col > "/dev/stderr"; exit 1} print v + 0}' "$1"
}

# start_luapbx runs $WORK/luapbx serve on $WORK/pbx.yaml (with --pprof when
# PROFILE is set) and waits for it: it sets PBX_PID (the pid), PBX (its UDP
# SIP address) and HTTP (its admin address), or exits with its log.
start_luapbx() {
	local flags=()
	[ -n "${PROFILE:-}" ] && flags+=(--pprof)
	(cd "$WORK" && exec ./luapbx serve --config pbx.yaml "${flags[@]}" >"$WORK/luapbx.log" 2>&1) &
	PBX_PID=$!
	PIDS+=($PBX_PID)
	PBX=""
	for _ in $(seq 1 100); do
		PBX=$(sed -n 's/.*luapbx ready.*sip=udp:\([0-9.]*:[0-9]*\).*/\1/p' "$WORK/luapbx.log" | head -1)
		[ -n "$PBX" ] && break
		kill -0 "$PBX_PID" 2>/dev/null || { cat "$WORK/luapbx.log" >&2; exit 1; }
		sleep 0.1
	done
	[ -n "$PBX" ] || { echo "$BENCH: luapbx not ready after 10 s" >&2; cat "$WORK/luapbx.log" >&2; exit 1; }
	HTTP=$(sed -n 's/.*luapbx ready.*http=\([0-9.]*:[0-9]*\).*/\1/p' "$WORK/luapbx.log" | head -1)
	[ -n "$HTTP" ] || { echo "$BENCH: luapbx did not say its http address" >&2; exit 1; }
}

# write_bench_plan SIP RTP STORAGE RULE writes $WORK/pbx.yaml, the plan the
# load scripts share: extension 201 (an MD5 HA1 only: see
# testdata/sipp/uac_auth.xml for why SIPp needs it) dials 9... out through
# the gateway at 127.0.0.1:$UAS_PORT. SIP is the listen.sip entry, RTP the
# rtp_ports range, STORAGE the storage map's entries, RULE is added to the
# rule (e.g. ", record: true").
write_bench_plan() {
	local ha1
	ha1=$(printf '201:luapbx:a-long-passphrase-201' | md5sum | cut -d' ' -f1)
	cat >"$WORK/pbx.yaml" <<EOF
listen: {sip: ["$1"], http: "127.0.0.1:0", rtp_ports: "$2"}
storage: {$3}
security: {ban_after_failures: 0, max_calls: 100000}
companies:
  - id: bench
    timezone: UTC
    classes: {outside: "^9"}
    extensions:
      - {number: "201", ha1: "$ha1", rights: [outside]}
    trunks:
      - {id: gw, host: "127.0.0.1:$UAS_PORT", transport: udp, register: false, inbound_ips: ["127.0.0.2"]}
    rules:
      - {name: out, caller_type: internal, called: "^9", action: route, target: "gateway:gw"$4}
EOF
}
