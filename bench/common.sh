# What the benchmarks of bench/ share; sourced (not run) by a script that has set `repo` to the
# repository's root and runs under `set -euo pipefail`:
#
#   source "$repo/bench/common.sh"
#   bench_deps                 # the test packages (tests/install-deps.sh) and wrk
#   bench_urbis                # $urbis: URBIS_BIN, else the release build of this checkout
#   bench_work tiles           # $work: a folder removed on exit, with the servers in $pids killed
#   bench_city_db              # a throwaway PostGIS in $work/pg, database `city` migrated: $pg_url
#   port=$(free_port); …; wait_for "http://127.0.0.1:$port/health"
#
# shellcheck shell=bash

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/urbis/target}"

# The Debian and PyPI packages of the tests, and the load generator wrk.
bench_deps() {
    bash "$repo/tests/install-deps.sh"
    command -v wrk >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
}

# Sets `urbis` to URBIS_BIN if given, else builds this checkout's release binary.
bench_urbis() {
    urbis="${URBIS_BIN:-}"
    if [[ -z "$urbis" ]]; then
        cargo build --release -p urbis --manifest-path "$repo/Cargo.toml" >&2
        urbis="$CARGO_TARGET_DIR/release/urbis"
    fi
}

# Sets `work` to a new folder named after $1, readable by the PostgreSQL server, and arranges that
# on exit the processes in `pids` are killed, the throwaway PostGIS (if started) stopped and the
# folder removed.
bench_work() {
    work="$(mktemp -d "${TMPDIR:-/tmp}/urbis-bench-$1.XXXXXX")"
    chmod 755 "$work"
    # shellcheck source=../tests/pg-ephemeral.sh
    source "$repo/tests/pg-ephemeral.sh"
    pids=()
    trap bench_cleanup EXIT
}

bench_cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    pg_ephemeral_stop
    rm -rf "$work"
}

# Starts a throwaway PostGIS in $work/pg and creates in it the database `city`, migrated for
# urbis; sets `pg_url` (the server's URL, without a database).
bench_city_db() {
    pg_ephemeral_start "$work/pg"
    pg_url="postgres://postgres@127.0.0.1:$PG_PORT"
    "${PG_PSQL[@]}" -d postgres -c "CREATE DATABASE city TEMPLATE urbis_template" >/dev/null
    "$urbis" migrate --store "$pg_url/city" >/dev/null
}

# A free TCP port on the loopback.
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Waits up to a minute for the URL $1 to answer with a success (a server starting on a busy machine).
wait_for() {
    for _ in $(seq 300); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        sleep 0.2
    done
    echo "no answer from $1" >&2
    return 1
}
