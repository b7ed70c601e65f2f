#!/usr/bin/env bash
# Fleet benchmark (docs/benchmarks.md, "Edge fleet"): release binaries (profile bench-release).
#
# 1. Propagation: the fleet end-to-end tests (tests/tests/fleet.rs) driving the release
#    binaries (MIRRORFLEET_BIN_DIR): `mirrorfleet serve` on SQLite + two store-mode edges
#    polling every 1 s, 20 × `host disable|enable`, on a file store and on S3 (moto); prints
#    p50 and max from the change's commit to both edges answering accordingly.
# 2. Swap at Fedora scale under load: Fedora-scale snapshots (`mirrorfleet-loadtest generate`,
#    700 hosts, 30,000 directories, 1 M prefixes) published one after another to a file store
#    while `mirrorfleet-loadtest run` sends the realistic mix; prints each swap's download and
#    swap time (download complete → serving) from the edge's log, the load report, and the
#    edge's memory and live mappings afterwards.
#
# Usage: ops/bench-fleet.sh [--work DIR] [--swaps N] [--skip-propagation]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mirrorfleet/target}"
WORK=/tmp/mfbench/fleet
SWAPS=5
PROPAGATION=1
while [ $# -gt 0 ]; do
  case "$1" in
    --work) WORK="$2"; shift 2 ;;
    --swaps) SWAPS="$2"; shift 2 ;;
    --skip-propagation) PROPAGATION=0; shift ;;
    *) echo "usage: $0 [--work DIR] [--swaps N] [--skip-propagation]" >&2; exit 2 ;;
  esac
done

echo "== building (bench-release)" >&2
cargo build --quiet --profile bench-release -p mirrorfleet-edge -p mirrorfleet-control \
  -p mirrorfleet-loadtest
B="$CARGO_TARGET_DIR/bench-release"

if [ "$PROPAGATION" = 1 ]; then
  echo "== propagation (tests/tests/fleet.rs against the release binaries)" >&2
  MIRRORFLEET_BIN_DIR="$B" CI=true cargo nextest run -p mirrorfleet-tests --test fleet \
    --no-capture a_disabled_host 2>&1 | grep -E '^propagation|PASS|FAIL'
fi

echo "== swap at Fedora scale under load, work directory $WORK" >&2
rm -rf "$WORK"
mkdir -p "$WORK/store/snapshots"
last=$((1 + SWAPS))
for v in $(seq 1 "$last"); do
  if [ "$v" = 1 ]; then geo=(); else geo=(--no-geoip); fi
  "$B/mirrorfleet-loadtest" generate --out "$WORK/v$v.mfs" --seed 1 --snapshot-version "$v" \
    "${geo[@]}" >/dev/null
done
inst=$("$B/mirrorfleet" snapshot inspect "$WORK/v1.mfs" --json |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["installation_id"])')

# Uploads version $1 and swaps manifest.json (serial = version), as the publisher does.
publish() {
  local v=$1 f="$WORK/v$1.mfs" sha size key
  sha=$(sha256sum "$f" | cut -c1-64)
  size=$(stat -c %s "$f")
  key="snapshots/$(printf %012d "$v")-$sha.mfs"
  cp "$f" "$WORK/store/$key"
  python3 - "$WORK/store" "$v" "$key" "$sha" "$size" "$inst" <<'PY'
import json, os, sys
store, v, key, sha, size, inst = sys.argv[1:]
m = {"format": "mirrorfleet-manifest", "format_version": 1, "serial": int(v),
     "installation_id": inst, "published_at": "2026-11-25T00:00:00Z", "rollback": False,
     "snapshot": {"version": int(v), "key": key, "sha256": sha, "size": int(size),
                  "format_version": 1, "created_at": "2026-01-01T00:00:00Z",
                  "source_generation": int(v)}}
tmp = os.path.join(store, ".manifest.json.tmp")
with open(tmp, "w") as f:
    json.dump(m, f, indent=2)
os.rename(tmp, os.path.join(store, "manifest.json"))
PY
}

cat >"$WORK/edge.toml" <<'TOML'
[server]
ip_param_networks = ["127.0.0.0/8"]   # the load generator spoofs clients with ip=
TOML
PORT=18081
publish 1
"$B/mirrorfleet-edge" --store "file://$WORK/store" --cache-dir "$WORK/cache" --poll-interval 1s \
  --geoip "$WORK/v1.mfs.geoip.mmdb" --config "$WORK/edge.toml" --listen "127.0.0.1:$PORT" \
  2>"$WORK/edge.log" &
edge=$!
trap 'kill $edge 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
  curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break
  sleep 0.1
done
duration=$((4 * SWAPS + 6))
"$B/mirrorfleet-loadtest" run --target "http://127.0.0.1:$PORT" --mix realistic \
  --snapshot "$WORK/v1.mfs" --duration "${duration}s" --concurrency 2 >"$WORK/load.txt" 2>&1 &
load=$!
sleep 3
for v in $(seq 2 "$last"); do
  publish "$v"
  sleep 4
done
wait "$load"
sleep 1
echo "-- swaps (edge log: download = stream + hash, swap = download complete → serving)"
grep 'snapshot swapped in' "$WORK/edge.log" |
  sed -E 's/.*version=([0-9]+).*download_ms=([0-9.]+).*load_ms=([0-9.]+).*swap_ms=([0-9.]+).*/version \1: download \2 ms, load \3 ms, swap \4 ms/'
echo "-- load during the swaps"
cat "$WORK/load.txt"
echo "-- edge afterwards"
grep -E 'VmRSS|VmHWM' "/proc/$edge/status"
echo "live snapshot mappings: $(grep '\.mfs' "/proc/$edge/maps" | awk '{print $6}' | sort -u | wc -l)"
curl -s "http://127.0.0.1:$PORT/metrics" | grep -E 'snapshot_(loads|rejected)_total|manifest_polls_total|snapshot_version '
