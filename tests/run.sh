#!/usr/bin/env bash
# The test command of urbis: runs the whole test suite against both stores, the GeoPackage file and
# a real PostGIS. PostGIS comes from an ephemeral PostgreSQL 15 cluster started here in a temporary
# folder and deleted on exit, so nothing outside this run is touched. If PostGIS cannot be started
# this script fails: the PostGIS tests are never skipped.
#
#   bash tests/run.sh                 # every test
#   bash tests/run.sh -p urbis-store  # extra arguments go to `cargo test`
#
# Environment: CARGO_TARGET_DIR (default: $HOME/.cache/urbis/target, outside the clone so that CI
# and several clones share one build), URBIS_PG_BIN (PostgreSQL's bin folder, default
# /usr/lib/postgresql/15/bin).
set -euo pipefail

die() {
    echo "tests/run.sh: $*" >&2
    exit 1
}

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pg_bin="${URBIS_PG_BIN:-/usr/lib/postgresql/15/bin}"

# --- System packages -------------------------------------------------------------------------
# The GDAL importer and the one shared SQLite need their -dev packages; PostGIS needs the server.
packages=(pkg-config libsqlite3-dev libgdal-dev gdal-bin postgresql-15 postgresql-15-postgis-3)
missing=()
if command -v dpkg-query >/dev/null; then
    for p in "${packages[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$p")
        fi
    done
fi
if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        echo "tests/run.sh: installing ${missing[*]}" >&2
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}"
    else
        die "missing Debian packages: ${missing[*]} (install them, or run this script as root to have it do so)"
    fi
fi
[[ -x "$pg_bin/initdb" && -x "$pg_bin/pg_ctl" ]] || die "no PostgreSQL 15 server in $pg_bin (set URBIS_PG_BIN)"

# --- Ephemeral PostGIS -----------------------------------------------------------------------
# PostgreSQL refuses to run as root: as root the cluster is owned by the `postgres` user.
as_pg=()
if [[ $(id -u) -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || die "running as root but there is no \`postgres\` user to own the cluster"
    as_pg=(runuser -u postgres --)
fi

cluster="$(mktemp -d "${TMPDIR:-/tmp}/urbis-pg.XXXXXX")"
chmod 755 "$cluster"
pgdata="$cluster/data"
pglog="$cluster/server.log"
started=0
cleanup() {
    local rc=$?
    if ((started)); then
        "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pgdata" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$cluster"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
[[ ${#as_pg[@]} -eq 0 ]] || chown postgres: "$cluster"

"${as_pg[@]}" "$pg_bin/initdb" -D "$pgdata" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
    >"$cluster/initdb.log" 2>&1 || { cat "$cluster/initdb.log" >&2; die "initdb failed"; }

# A free TCP port on the loopback: bind port 0 and let the kernel choose. Another process may take
# it before PostgreSQL does; then try another port, and after three attempts fail loudly.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
        echo $((20000 + RANDOM % 20000))
}
started=1
for attempt in 1 2 3; do
    port="$(free_port)"
    # Throwaway data: durability is switched off, which makes the many small test databases cheap.
    if "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pgdata" -l "$pglog" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $cluster -c fsync=off -c synchronous_commit=off \
            -c full_page_writes=off -c max_connections=200 -c shared_buffers=64MB" start >/dev/null; then
        break
    fi
    if ((attempt == 3)) || ! grep -q "Address already in use" "$pglog"; then
        cat "$pglog" >&2 || true
        die "PostgreSQL did not start (log above)"
    fi
done

psql=("${as_pg[@]}" "$pg_bin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres)
"${psql[@]}" -d postgres -c "CREATE DATABASE urbis_template" ||
    die "cannot create the template database"
"${psql[@]}" -d urbis_template -c "CREATE EXTENSION postgis" ||
    die "cannot create the postgis extension (is postgresql-15-postgis-3 installed?)"
# Mark it a template so that tests may copy it while nobody is connected to it.
"${psql[@]}" -d postgres -c "ALTER DATABASE urbis_template WITH IS_TEMPLATE true"

export URBIS_TEST_PG_URL="postgres://postgres@127.0.0.1:$port/postgres"
echo "tests/run.sh: ephemeral PostGIS at $URBIS_TEST_PG_URL" >&2

# --- The tests -------------------------------------------------------------------------------
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/urbis/target}"
cd "$repo"
# The features that turn the PostGIS tests (and GDAL) on, for the packages being tested: cargo
# refuses `--features pkg/feature` for a package that `-p` did not select.
all_features=(urbis/postgis-tests urbis/gdal urbis-store/postgis-tests)
selected=()
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[i]}" in
    -p | --package) selected+=("${args[i + 1]:-}") ;;
    -p?*) selected+=("${args[i]#-p}") ;;
    --package=*) selected+=("${args[i]#--package=}") ;;
    --) break ;;
    esac
done
features=()
if ((${#selected[@]})); then
    for f in "${all_features[@]}"; do
        for p in "${selected[@]}"; do
            if [[ "${f%%/*}" == "$p" ]]; then features+=("$f"); fi
        done
    done
    scope=()
else
    features=("${all_features[@]}")
    scope=(--workspace)
fi
feature_args=()
if ((${#features[@]})); then
    feature_args=(--features "$(IFS=,; echo "${features[*]}")")
fi
echo "tests/run.sh: cargo test ${scope[*]} ${feature_args[*]} $*" >&2
cargo test "${scope[@]}" "${feature_args[@]}" "$@"
