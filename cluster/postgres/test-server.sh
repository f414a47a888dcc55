#!/usr/bin/env bash
# A throwaway PostgreSQL server for testing the site ledger (Debian's postgresql package). The
# server refuses to run as root, so under root it runs as the unprivileged user `postgres` (made
# with useradd when missing). Everything lives in DIR: the cluster (initdb), its socket, its log.
# TCP on 127.0.0.1 and on each --listen address; password authentication (scram-sha-256) for the
# role `atelier`, whose password is $PGPASSWORD (or a random one, kept in DIR/password).
#
#   test-server.sh up [--dir DIR] [--port PORT] [--listen ADDR]...   initdb, start; prints the ledger URL
#   test-server.sh stop [--dir DIR]                                  stop it (the data stays)
#   test-server.sh start [--dir DIR]                                 start it again
#   test-server.sh down [--dir DIR]                                  stop it and remove DIR
set -euo pipefail
cmd=${1:-}; shift || true
dir=/tmp/atelier-postgres port="" listen=()
while [[ $# -gt 0 ]]; do
    case $1 in
        --dir) dir=$2; shift 2 ;;
        --port) port=$2; shift 2 ;;
        --listen) listen+=("$2"); shift 2 ;;
        *) echo "test-server.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
die() { echo "test-server.sh: $*" >&2; exit 2; }

# The server must not inherit the caller's descriptors beyond stdio: a caller waiting for one of
# them to close, as Foundation's Process does to learn that this script has exited, would wait for
# the server instead.
for fd in /proc/$$/fd/*; do
    fd=${fd##*/}
    if (( fd > 2 )); then eval "exec $fd>&-" 2>/dev/null || true; fi
done

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -n $bin && -x $bin/initdb ]] || die "PostgreSQL's server is not installed: apt-get install postgresql"

as_owner() {   # runs a server command as the unprivileged owner of DIR
    if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
    for p in $(seq 25432 25532); do
        if ! (exec 3<> "/dev/tcp/127.0.0.1/$p") 2> /dev/null; then echo "$p"; return 0; fi
    done
    die "no free port in 25432-25532"
}

start() {
    [[ -f $dir/data/PG_VERSION ]] || die "no server in $dir: run 'test-server.sh up' first"
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 start > /dev/null \
        || die "the server did not start; see $dir/server.log"
}

stop() {
    [[ -f $dir/data/postmaster.pid ]] || return 0
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop > /dev/null
}

up() {
    if [[ $(id -u) -eq 0 ]] && ! id postgres > /dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin postgres
    fi
    [[ -f $dir/data/postmaster.pid ]] && stop
    rm -rf "$dir"
    mkdir -p "$dir"
    [[ -n $port ]] || port=$(free_port)
    local password=${PGPASSWORD:-$(head -c 18 /dev/urandom | base64 | tr -d '/+=')}
    printf '%s\n' "$password" > "$dir/password"
    chmod 600 "$dir/password"
    [[ $(id -u) -eq 0 ]] && chown -R postgres "$dir"
    as_owner "$bin/initdb" -D "$dir/data" -U atelier --pwfile="$dir/password" --auth-local=trust --auth-host=scram-sha-256 \
        -E UTF8 --locale=C.UTF-8 > "$dir/initdb.log" 2>&1 || die "initdb failed; see $dir/initdb.log"
    local addresses=127.0.0.1
    for a in "${listen[@]}"; do addresses+=",$a"; done
    cat >> "$dir/data/postgresql.conf" <<CONF
listen_addresses = '$addresses'
port = $port
unix_socket_directories = '$dir'
max_connections = 100
fsync = off
CONF
    {
        echo "local all all trust"
        echo "host all all 127.0.0.1/32 scram-sha-256"
        for a in "${listen[@]}"; do echo "host all all ${a%.*}.0/24 scram-sha-256"; done
    } > "$dir/data/pg_hba.conf"
    echo "$port" > "$dir/port"
    start
    as_owner "$bin/psql" -h "$dir" -p "$port" -U atelier -d postgres -q -c "CREATE DATABASE ledger" > /dev/null
    echo "postgresql://atelier@127.0.0.1:$port/ledger"
}

case $cmd in
    up) up ;;
    start) start; echo "postgresql://atelier@127.0.0.1:$(cat "$dir/port")/ledger" ;;
    stop) stop; echo "stopped" ;;
    down) stop 2> /dev/null || true; rm -rf "$dir"; echo "removed" ;;
    *) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
