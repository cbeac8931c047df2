# A throwaway PostgreSQL 15 cluster with PostGIS, for the test command and the benchmarks.
# Source this file, then:
#   pg_ephemeral_start DIR   # initdb into DIR, start on 127.0.0.1:<free port>; sets PG_PORT and
#                            # PG_PSQL (an array: psql as the superuser), creates the template
#                            # database `urbis_template` with PostGIS
#   pg_ephemeral_stop        # stops it (the caller removes DIR)
# Fails loudly (returns non-zero with the server's log) when the cluster cannot start.

pg_bin="${URBIS_PG_BIN:-/usr/lib/postgresql/15/bin}"
PG_STARTED=0

pg_ephemeral_start() {
    local dir="$1"
    [[ -x "$pg_bin/initdb" && -x "$pg_bin/pg_ctl" ]] || {
        echo "no PostgreSQL 15 server in $pg_bin (set URBIS_PG_BIN)" >&2
        return 1
    }
    # PostgreSQL refuses to run as root: as root the cluster is owned by the `postgres` user.
    PG_AS=()
    if [[ $(id -u) -eq 0 ]]; then
        id postgres >/dev/null 2>&1 || {
            echo "running as root but there is no \`postgres\` user to own the cluster" >&2
            return 1
        }
        PG_AS=(runuser -u postgres --)
    fi
    mkdir -p "$dir"
    chmod 755 "$dir"
    [[ ${#PG_AS[@]} -eq 0 ]] || chown postgres: "$dir"
    PG_DATA="$dir/data"
    local log="$dir/server.log"
    "${PG_AS[@]}" "$pg_bin/initdb" -D "$PG_DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
        >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        echo "initdb failed" >&2
        return 1
    }
    # A free port on the loopback: another process may take it first, so try three times.
    local attempt
    for attempt in 1 2 3; do
        PG_PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
            echo $((20000 + RANDOM % 20000)))"
        # Throwaway data: durability off makes the many small test databases cheap.
        if "${PG_AS[@]}" "$pg_bin/pg_ctl" -D "$PG_DATA" -l "$log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $dir -c fsync=off -c synchronous_commit=off \
                -c full_page_writes=off -c max_connections=200 -c shared_buffers=128MB" start >/dev/null; then
            PG_STARTED=1
            break
        fi
        if ((attempt == 3)) || ! grep -q "Address already in use" "$log"; then
            cat "$log" >&2 || true
            echo "PostgreSQL did not start (log above)" >&2
            return 1
        fi
    done
    PG_PSQL=("${PG_AS[@]}" "$pg_bin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres)
    "${PG_PSQL[@]}" -d postgres -c "CREATE DATABASE urbis_template" >/dev/null &&
        "${PG_PSQL[@]}" -d urbis_template -c "CREATE EXTENSION postgis" >/dev/null &&
        "${PG_PSQL[@]}" -d postgres -c "ALTER DATABASE urbis_template WITH IS_TEMPLATE true" >/dev/null || {
        echo "cannot create the PostGIS template database (is postgresql-15-postgis-3 installed?)" >&2
        return 1
    }
}

pg_ephemeral_stop() {
    if ((PG_STARTED)); then
        "${PG_AS[@]}" "$pg_bin/pg_ctl" -D "$PG_DATA" -m immediate -w stop >/dev/null 2>&1 || true
        PG_STARTED=0
    fi
}
