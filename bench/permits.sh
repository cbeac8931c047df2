#!/usr/bin/env bash
# Benchmark of the permit workflow on the demo city (`urbis demo`'s GeoPackage, release build):
# sequential requests, one client, each timed by curl: intake of a dossier on a real parcel with
# its parcel check, a transition, public tracking; then `urbis audit verify` over the whole store.
# Prints the mean and the 90th percentile per request kind.
#
#   bash bench/permits.sh            # N=200 requests of each kind
#
# Not a test: it asserts nothing and CI never runs it.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
n="${N:-200}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/urbis/target}"
cargo build --release -p urbis --manifest-path "$repo/Cargo.toml" >&2
urbis="$CARGO_TARGET_DIR/release/urbis"
work="$(mktemp -d "${TMPDIR:-/tmp}/urbis-bench-permits.XXXXXX")"
port=$((20000 + RANDOM % 20000))
token="bench-admin-$RANDOM-0123456789"
server=""
cleanup() {
    [[ -n "$server" ]] && kill "$server" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

(cd "$repo" && "$urbis" demo --store "$work/demo.gpkg" --no-serve >/dev/null)
"$urbis" serve --store "$work/demo.gpkg" --bind "127.0.0.1:$port" --token "admin:$token" >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.2; done
s="http://127.0.0.1:$port"

# Mean and 90th percentile (ms) of the seconds on stdin, one a line.
stats() { sort -n | awk '{ v[NR] = $1 * 1000; sum += v[NR] } END { p = int(NR * 0.9); if (p < 1) p = 1;
    printf "n=%d mean=%.1f ms p90=%.1f ms\n", NR, sum / NR, v[p] }'; }

codes=$(sqlite3 "$work/demo.gpkg" "SELECT code FROM parcels WHERE code GLOB '*[0-9]*' ORDER BY random() LIMIT $n")
printf 'intake + parcel check: '
for c in $codes; do
    curl -s -o /dev/null -w '%{time_total}\n' -H 'Content-Type: application/json' -d "{\"procedure_code\":\"BLU-01\",
      \"parcels\":[\"$c\"],\"proposed_use\":\"office\",\"proposed_height_m\":20,\"proposed_floor_area_m2\":1500,
      \"applicant\":{\"name\":\"Bench\"}}" "$s/dossiers"
done | stats
ids=$(sqlite3 "$work/demo.gpkg" "SELECT id FROM permits WHERE stage = 'received' ORDER BY random() LIMIT $n")
printf 'transition:            '
for i in $ids; do
    curl -s -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
        -d '{"to":"in_review"}' "$s/dossiers/$i/transitions"
done | stats
printf 'tracking:              '
for i in $ids; do curl -s -o /dev/null -w '%{time_total}\n' "$s/track/$i"; done | stats
printf 'audit verify:          '
/usr/bin/time -f '%e s' "$urbis" audit verify --store "$work/demo.gpkg" 2>&1 | tail -2 | tr '\n' ' '
echo
