#!/bin/sh
# Throwaway PostgreSQL for the CDR tests (engine/cdr).
#
#   eval "$(.ci/postgres.sh)"        # install if missing, start, export the DSN
#   go test ./engine/cdr/...         # uses LUAPBX_TEST_POSTGRES
#   .ci/postgres.sh stop             # stop it and delete its files
#
# Installs Debian's postgresql when no server binaries are found, creates a
# cluster under a temporary directory, starts it on 127.0.0.1 on a free port
# (as the postgres user when run as root), creates a database, and prints
# export lines on stdout; everything else goes to stderr.
set -eu

log() { echo "postgres.sh: $*" >&2; }

# as_owner runs a command as the cluster owner: initdb refuses to run as root.
as_owner() {
    if [ "$(id -u)" -ne 0 ]; then
        "$@"
    elif command -v runuser >/dev/null 2>&1; then
        runuser -u postgres -- "$@"
    else
        su postgres -s /bin/sh -c '"$0" "$@"' -- "$@"
    fi
}

find_bin() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

stop() {
    dir=${1:-${LUAPBX_TEST_POSTGRES_DIR:-}}
    [ -n "$dir" ] && [ -d "$dir/data" ] || { log "nothing to stop (give the directory or set LUAPBX_TEST_POSTGRES_DIR)"; exit 1; }
    bin=$(find_bin)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
    rm -rf "$dir"
    log "stopped and removed $dir"
}

install_if_missing() {
    [ -n "$(find_bin)" ] && [ -x "$(find_bin)/initdb" ] && return 0
    log "installing Debian's postgresql"
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get install -y postgresql >&2 || { $sudo apt-get update >&2 && $sudo apt-get install -y postgresql >&2; }
    # Debian's package starts a system cluster on 5432; we do not use it.
}

# free_port prints a TCP port nobody listens on (the server start retries
# with another one if it loses a race).
free_port() {
    while :; do
        p=$(( $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 30000 + 30000 ))
        if command -v ss >/dev/null 2>&1; then
            [ -z "$(ss -Htln "sport = :$p" 2>/dev/null)" ] && { echo "$p"; return; }
        else
            echo "$p"; return
        fi
    done
}

start() {
    install_if_missing
    bin=$(find_bin)
    dir=$(mktemp -d "${TMPDIR:-/tmp}/luapbx-pg.XXXXXX")
    pw=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
    printf '%s\n' "$pw" > "$dir/pwfile"
    [ "$(id -u)" -eq 0 ] && chown -R postgres: "$dir"
    chmod 700 "$dir"
    as_owner "$bin/initdb" -D "$dir/data" -U postgres -A scram-sha-256 \
        --pwfile="$dir/pwfile" --no-sync -E UTF8 --locale=C.UTF-8 >&2 ||
    as_owner "$bin/initdb" -D "$dir/data" -U postgres -A scram-sha-256 \
        --pwfile="$dir/pwfile" --no-sync -E UTF8 --locale=C >&2
    rm -f "$dir/pwfile"
    started=""
    for _ in 1 2 3 4 5; do
        port=$(free_port)
        if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
            -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
            start >&2; then
            started=yes
            break
        fi
        log "start on port $port failed, retrying"; tail -n 5 "$dir/server.log" >&2 || true
    done
    [ -n "$started" ] || { log "could not start postgres"; exit 1; }
    PGPASSWORD=$pw "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres luapbx_test
    log "postgres running on 127.0.0.1:$port, data in $dir (stop: .ci/postgres.sh stop $dir)"
    echo "export LUAPBX_TEST_POSTGRES='postgres://postgres:$pw@127.0.0.1:$port/luapbx_test?sslmode=disable'"
    echo "export LUAPBX_TEST_POSTGRES_DIR='$dir'"
}

case "${1:-start}" in
start) start ;;
stop) stop "${2:-}" ;;
*) log "usage: $0 [start|stop [dir]]"; exit 2 ;;
esac
