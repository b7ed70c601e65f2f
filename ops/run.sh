#!/usr/bin/env bash
# The run command (README.md): builds mirrorfleet, makes a snapshot of the
# sample inventory and starts an edge on 127.0.0.1:8081 serving it.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mirrorfleet/target}"
LISTEN="${MIRRORFLEET_LISTEN:-127.0.0.1:8081}"

bash ops/dev-setup.sh
echo "== building (first time: a few minutes)" >&2
cargo build --quiet -p mirrorfleet-control -p mirrorfleet-edge
bin="$CARGO_TARGET_DIR/debug"

mkdir -p data
"$bin/mirrorfleet" snapshot build --inventory examples/inventory.json --out data/snapshot.mfs --asn-table examples/prefix-asn.txt

cat >&2 <<MSG
== edge listening on http://$LISTEN  (Ctrl-C to stop)
   curl 'http://$LISTEN/mirrorlist?repo=fedora-40&arch=x86_64'
   curl 'http://$LISTEN/metalink?repo=updates-released-f40&arch=x86_64'
   curl 'http://$LISTEN/mirrorlist?repo=fedora-40&arch=x86_64&ip=198.51.100.7'   # inside the private mirror's netblock
   curl 'http://$LISTEN/mirrorlist?repo=fedora-40&arch=x86_64&explain=1'
   curl 'http://$LISTEN/snapshot'; curl 'http://$LISTEN/metrics'
MSG
exec "$bin/mirrorfleet-edge" --snapshot data/snapshot.mfs --listen "$LISTEN" --config examples/edge.toml
