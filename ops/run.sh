#!/usr/bin/env bash
# The run command (README.md): builds mirrorfleet, loads the sample inventory and prefix→ASN
# table into the embedded SQLite database (data/mirrorfleet.db), starts the control plane
# (`mirrorfleet serve` on 127.0.0.1:8080: publishes to the local store data/store) and an edge
# on 127.0.0.1:8081 following that store (store mode, cache in data/edge-cache): a change made
# with the CLI (`mirrorfleet host disable …`) reaches it within seconds. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mirrorfleet/target}"
LISTEN="${MIRRORFLEET_LISTEN:-127.0.0.1:8081}"
CONTROL="${MIRRORFLEET_CONTROL_LISTEN:-127.0.0.1:8080}"

bash ops/dev-setup.sh
echo "== building (first time: a few minutes)" >&2
cargo build --quiet -p mirrorfleet-control -p mirrorfleet-edge
bin="$CARGO_TARGET_DIR/debug"
mf() { "$bin/mirrorfleet" "$@"; }

echo "== loading the sample data into data/mirrorfleet.db" >&2
mf init >/dev/null
mf import inventory examples/inventory.json >/dev/null
mf asn import examples/prefix-asn.txt >/dev/null

echo "== control plane on http://$CONTROL (publishes to data/store)" >&2
# The sample has two public hosts: disabling one halves the public list, which the default guard
# rail (publish.max_drop = 0.25) would hold back for an operator's `publish --force`.
export MIRRORFLEET__PUBLISH__MAX_DROP="${MIRRORFLEET__PUBLISH__MAX_DROP:-0.5}"
before=$(cat data/store/manifest.json 2>/dev/null || true)
MIRRORFLEET__SERVER__LISTEN="$CONTROL" "$bin/mirrorfleet" serve &
serve_pid=$!
edge_pid=""
stop() { kill $serve_pid $edge_pid 2>/dev/null || true; wait 2>/dev/null || true; }
trap stop EXIT
trap 'exit 130' INT TERM
for _ in $(seq 1 300); do
  # the startup publish swaps manifest.json
  [ -f data/store/manifest.json ] && [ "$(cat data/store/manifest.json)" != "$before" ] && break
  kill -0 "$serve_pid" 2>/dev/null || { echo "mirrorfleet serve stopped" >&2; exit 1; }
  sleep 0.1
done
[ -f data/store/manifest.json ] || { echo "no snapshot was published (see the log above)" >&2; exit 1; }

cat >&2 <<MSG
== edge listening on http://$LISTEN, following file://data/store  (Ctrl-C to stop)
   curl 'http://$LISTEN/mirrorlist?repo=fedora-40&arch=x86_64'
   curl 'http://$LISTEN/metalink?repo=updates-released-f40&arch=x86_64'
   curl 'http://$LISTEN/mirrorlist?repo=fedora-40&arch=x86_64&ip=198.51.100.7'   # inside the private mirror's netblock
   curl 'http://$LISTEN/mirrorlist?repo=fedora-40&arch=x86_64&explain=1'
   curl 'http://$LISTEN/snapshot'; curl 'http://$LISTEN/metrics'
   curl 'http://$CONTROL/readyz'; curl 'http://$CONTROL/metrics'
   $bin/mirrorfleet host disable 'Example University/mirror.example.edu'   # gone from the edge within seconds
MSG
"$bin/mirrorfleet-edge" --store file://data/store --cache-dir data/edge-cache \
  --listen "$LISTEN" --config examples/edge.toml &
edge_pid=$!
wait "$edge_pid"
