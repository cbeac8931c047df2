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

# --- System packages -------------------------------------------------------------------------
bash "$repo/tests/install-deps.sh" || die "cannot install the Debian packages the tests need"

# --- Ephemeral PostGIS -----------------------------------------------------------------------
# shellcheck source=pg-ephemeral.sh
source "$repo/tests/pg-ephemeral.sh"
cluster="$(mktemp -d "${TMPDIR:-/tmp}/urbis-pg.XXXXXX")"
cleanup() {
    local rc=$?
    pg_ephemeral_stop
    rm -rf "$cluster"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
pg_ephemeral_start "$cluster" || die "could not start a throwaway PostGIS (see above): the PostGIS tests are never skipped"

export URBIS_TEST_PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
echo "tests/run.sh: ephemeral PostGIS at $URBIS_TEST_PG_URL" >&2

# --- The tests -------------------------------------------------------------------------------
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/urbis/target}"
cd "$repo"
# The features that turn the PostGIS tests (and GDAL) on, for the packages being tested: cargo
# refuses `--features pkg/feature` for a package that `-p` did not select.
all_features=(urbis/postgis-tests urbis/gdal urbis-store/postgis-tests urbis-server/postgis-tests urbis-analysis/postgis-tests)
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
# --no-fail-fast: one run reports every failing test binary, not only the first.
if (($#)); then
    echo "tests/run.sh: cargo test --no-fail-fast ${scope[*]} ${feature_args[*]} $*" >&2
    cargo test --no-fail-fast "${scope[@]}" "${feature_args[@]}" "$@"
    exit
fi
# The whole suite: every test target, then the doc tests. Not the examples, which plain `cargo
# test` would also build (in debug, each linking the whole server) without running them: they are
# benchmarks, type-checked by .ci/run's clippy and run in release (bench/, `cargo run --release
# --example`).
rc=0
echo "tests/run.sh: cargo test --no-fail-fast ${scope[*]} ${feature_args[*]} --lib --bins --tests" >&2
cargo test --no-fail-fast "${scope[@]}" "${feature_args[@]}" --lib --bins --tests || rc=$?
echo "tests/run.sh: cargo test --no-fail-fast ${scope[*]} ${feature_args[*]} --doc" >&2
cargo test --no-fail-fast "${scope[@]}" "${feature_args[@]}" --doc || rc=$?
exit "$rc"
