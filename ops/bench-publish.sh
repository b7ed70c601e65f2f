#!/usr/bin/env bash
# Fedora-scale import and publish, measured (docs/benchmarks.md, "Control plane: Fedora-scale
# import and publish"). Generates the Fedora-scale inventory and prefix→ASN table with
# `mirrorfleet-loadtest generate-inventory`, then on SQLite and on PostgreSQL:
#   mirrorfleet init → import inventory → asn import → publish (first) → publish (unchanged)
# each timed with /usr/bin/time (wall time, peak RSS), then the publish's steps one by one
# (control-plane example `publish_phases`) and the publish log's upload→manifest time.
#
# Usage: ops/bench-publish.sh [--backends sqlite,postgres] [--work DIR] [--skip-build] [--small]
#   --work DIR    keep everything in DIR (default: a temporary directory, removed at the end)
#   --skip-build  use the binaries already built with $PROFILE
#   --small       a small dataset (100 hosts, 3,000 directories) to check the script itself
# Environment: PROFILE (default bench-release), PG_URL (default
#   postgres://postgres@127.0.0.1:5432/test; the script creates and drops the schema
#   $BENCH_SCHEMA, default bench_publish), SEED (default 1), CARGO_TARGET_DIR.
# Needs /usr/bin/time (Debian package `time`); psql for PostgreSQL; sqlite3 (optional) for the
# SQLite publish log. Every step is bounded by `timeout`.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

. ops/lib/bench-common.sh
bench_setup bench-publish 19 "$0" "$@"
PG_SCHEMA_URL="$PG_URL$( [[ $PG_URL == *\?* ]] && echo '&' || echo '?' )options=-c%20search_path%3D$SCHEMA"
pg_drop() {
  psql -q "$PG_URL" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
}
cleanup() {
  if [[ ",$BACKENDS," == *,postgres,* ]] && command -v psql >/dev/null; then pg_drop; fi
  if [ "$REMOVE_WORK" = 1 ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

say() { echo "bench-publish: $*" >&2; }

# ---- build
if [ "$BUILD" = 1 ]; then
  say "building ($PROFILE) …"
  cargo build --quiet --profile "$PROFILE" -p mirrorfleet-control -p mirrorfleet-loadtest \
    --bin mirrorfleet --bin mirrorfleet-loadtest --example publish_phases
fi
MF=$BIN/mirrorfleet
for b in "$MF" "$BIN/mirrorfleet-loadtest" "$BIN/examples/publish_phases"; do
  [ -x "$b" ] || { echo "bench-publish: $b is missing (build with --profile $PROFILE)" >&2; exit 1; }
done

# ---- the machine
{
  echo "== machine"
  echo "cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1), nproc $(nproc)"
  echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
  echo "kernel: $(uname -sr); $(rustc --version 2>/dev/null || echo 'rustc ?')"
  echo "commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (with local changes)')"
  echo "profile: $PROFILE; work directory: $WORK"
} | tee "$WORK/machine.txt"

# ---- the dataset
cd "$WORK"
INV=$WORK/fedora-inventory.json
ASN=$WORK/fedora-asn.txt
GEN_ARGS=(--seed "$SEED")
[ "$SMALL" = 1 ] && GEN_ARGS+=(--hosts 100 --private 30 --directories 3000 --netblocks 2000 --asn-prefixes 20000)
say "generating the inventory …"
timeout 600 "$BIN/mirrorfleet-loadtest" generate-inventory --out "$INV" --asn-table-out "$ASN" \
  "${GEN_ARGS[@]}" >"$WORK/dataset.txt" 2>"$WORK/dataset.err"
echo "== dataset"
cat "$WORK/dataset.txt"

RESULTS=()
# measure NAME LIMIT_SECONDS COMMAND…: wall time and peak RSS of one command; its standard
# error is shown as it comes (import progress) and kept in err.NAME.
measure() {
  local name=$1 limit=$2
  shift 2
  say "$name (load average $(cut -d' ' -f1-3 /proc/loadavg)) …"
  if ! timeout "$limit" /usr/bin/time -f '%e %M' -o "$WORK/time.$name" "$@" \
      >"$WORK/out.$name" 2> >(tee "$WORK/err.$name" >&2); then
    cat "$WORK/out.$name" >&2
    echo "bench-publish: $name failed (or ran over ${limit}s)" >&2
    exit 1
  fi
  local wall rss
  read -r wall rss < <(tail -n1 "$WORK/time.$name")
  RESULTS+=("$name|$wall|$((rss / 1024))")
}

# publish_ms BACKEND URL: the upload → manifest swap time of each published version
# (publish_log: the `started` row is written after the build, `finished_at` after the swap).
publish_ms() {
  case "$1" in
    sqlite)
      command -v sqlite3 >/dev/null || { echo "n/a"; return; }
      sqlite3 "$2" "SELECT group_concat(printf('v%d %.0f ms', version, \
        (julianday(finished_at) - julianday(started_at)) * 86400000), ', ') \
        FROM (SELECT * FROM publish_log WHERE status = 'published' ORDER BY id)" ;;
    postgres)
      psql -At "$PG_URL" -c "SELECT string_agg(format('v%s %s ms', version, \
        round(extract(epoch FROM finished_at - started_at) * 1000)), ', ' ORDER BY id) \
        FROM $SCHEMA.publish_log WHERE status = 'published'" ;;
  esac
}

IFS=, read -r -a BACKEND_LIST <<<"$BACKENDS"
for backend in "${BACKEND_LIST[@]}"; do
  case "$backend" in
    sqlite)
      DB_FILE=$WORK/sqlite/mirrorfleet.db
      URL="sqlite://$DB_FILE"
      ;;
    postgres)
      command -v psql >/dev/null || { say "psql missing: PostgreSQL skipped"; continue; }
      psql -q "$PG_URL" -c 'SELECT 1' >/dev/null 2>&1 || { say "$PG_URL unreachable: PostgreSQL skipped"; continue; }
      pg_drop
      URL=$PG_SCHEMA_URL
      ;;
    *) echo "bench-publish: unknown backend $backend" >&2; exit 2 ;;
  esac
  export MIRRORFLEET__DATA__DIR=$WORK/$backend/data
  mkdir -p "$MIRRORFLEET__DATA__DIR"
  measure "$backend.init" 300 "$MF" --database-url "$URL" init
  measure "$backend.import" 3600 "$MF" --database-url "$URL" import inventory "$INV"
  measure "$backend.asn-import" 600 "$MF" --database-url "$URL" asn import "$ASN"
  measure "$backend.publish-first" 900 "$MF" --database-url "$URL" publish
  measure "$backend.publish-unchanged" 900 "$MF" --database-url "$URL" publish
  say "$backend: publish steps one by one …"
  timeout 900 "$BIN/examples/publish_phases" "$URL" "$MIRRORFLEET__DATA__DIR" \
    >"$WORK/phases.$backend" 2>&1
  echo "== $backend"
  case "$backend" in
    sqlite) echo "database: $(stat -c %s "$DB_FILE") bytes (WAL $(stat -c %s "$DB_FILE-wal" 2>/dev/null || echo 0) bytes)" ;;
    postgres) echo "database: $(psql -At "$PG_URL" -c "SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) \
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
        WHERE n.nspname = '$SCHEMA' AND c.relkind IN ('r', 'm')") in schema $SCHEMA" ;;
  esac
  sed 's/^/import: /' "$WORK/out.$backend.import"
  sed -n '1,2p' "$WORK/out.$backend.publish-first" | sed 's/^/publish: /'
  echo "publish log, upload → manifest swap: $(publish_ms "$backend" "${DB_FILE:-}")"
  echo "publish steps (publish_phases):"
  sed 's/^/  /' "$WORK/phases.$backend"
  unset MIRRORFLEET__DATA__DIR
done

echo "== wall time and peak RSS"
printf '%-30s %10s %12s\n' step "wall (s)" "peak RSS (MiB)"
for r in "${RESULTS[@]}"; do
  IFS='|' read -r name wall rss <<<"$r"
  printf '%-30s %10s %12s\n' "$name" "$wall" "$rss"
done
