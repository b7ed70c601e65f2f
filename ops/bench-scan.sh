#!/usr/bin/env bash
# The scanner on a Fedora-sized master tree, measured (docs/benchmarks.md, "Control plane:
# scanning a Fedora-sized master tree"). Generates the tree with
# `mirrorfleet-loadtest generate-tree` (30,000 directories laid out like Fedora's master,
# repodata with repomd.xml, packages, images with checksum files; its fullfiletimelist and an
# inventory of its three categories), then on SQLite and on PostgreSQL:
#   walk:  init → import inventory → scan (cold: empty database) → scan ×3 (warm, nothing
#          changed) → 10 repomd.xml replaced → scan → scan --full
#   list:  a fresh database → scan with the fullfiletimelist (cold) → scan (same list:
#          "unchanged") → a new list naming 10 new repomd.xml → scan
# each timed with /usr/bin/time (wall time, peak RSS), with the scan's own counters.
# The goal (issue 7): a warm scan within 10 s.
#
# Usage: ops/bench-scan.sh [--backends sqlite,postgres] [--work DIR] [--skip-build] [--small]
#   --work DIR    keep everything in DIR (default: a temporary directory, removed at the end)
#   --skip-build  use the binaries already built with $PROFILE
#   --small       3,000 directories, to check the script itself
# Environment: PROFILE (default bench-release), PG_URL (default
#   postgres://postgres@127.0.0.1:5432/test; the script creates and drops the schemas
#   $BENCH_SCHEMA and ${BENCH_SCHEMA}_list, default bench_scan), SEED (default 1),
#   CARGO_TARGET_DIR.
# The page cache is left as it is: "cold" is a scan into an empty database of a tree the
# kernel has cached (it was just written), so it measures the scanner, not the disk.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

. ops/lib/bench-common.sh
bench_setup bench-scan 23 "$0" "$@"
schema_url() {
  echo "$PG_URL$( [[ $PG_URL == *\?* ]] && echo '&' || echo '?' )options=-c%20search_path%3D$1"
}
pg_drop() {
  for s in "$SCHEMA" "${SCHEMA}_list"; do
    psql -q "$PG_URL" -c "DROP SCHEMA IF EXISTS $s CASCADE" >/dev/null 2>&1 || true
  done
}
cleanup() {
  if [[ ",$BACKENDS," == *,postgres,* ]] && command -v psql >/dev/null; then pg_drop; fi
  if [ "$REMOVE_WORK" = 1 ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

say() { echo "bench-scan: $*" >&2; }

# ---- build
if [ "$BUILD" = 1 ]; then
  say "building ($PROFILE) …"
  cargo build --quiet --profile "$PROFILE" -p mirrorfleet-control -p mirrorfleet-loadtest \
    --bin mirrorfleet --bin mirrorfleet-loadtest
fi
MF=$BIN/mirrorfleet
for b in "$MF" "$BIN/mirrorfleet-loadtest"; do
  [ -x "$b" ] || { echo "bench-scan: $b is missing (build with --profile $PROFILE)" >&2; exit 1; }
done

# ---- the machine
{
  echo "== machine"
  echo "cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1), nproc $(nproc)"
  echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
  echo "file system: $(df -T "$WORK" | awk 'NR == 2 {print $2}')"
  echo "kernel: $(uname -sr); $(rustc --version 2>/dev/null || echo 'rustc ?')"
  echo "commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (with local changes)')"
  echo "profile: $PROFILE; work directory: $WORK"
} | tee "$WORK/machine.txt"

# ---- the tree
TREE=$WORK/tree
GEN_ARGS=(--seed "$SEED")
[ "$SMALL" = 1 ] && GEN_ARGS+=(--directories 3000)
say "generating the master tree …"
rm -rf "$TREE"
timeout 1800 "$BIN/mirrorfleet-loadtest" generate-tree --out "$TREE" "${GEN_ARGS[@]}" \
  >"$WORK/tree.txt" 2>"$WORK/tree.err"
echo "== tree"
cat "$WORK/tree.txt"
# What the tree is older than: D12 lists a directory again when its ctime is at or after the
# second the previous scan started.
sleep 1

# The configuration: one master per category; with a list file for the list runs.
config() {
  local file=$1 list=$2
  {
    for entry in "Fedora Linux|pub/fedora/linux" "Fedora EPEL|pub/epel" "Fedora Archive|pub/archive"; do
      IFS='|' read -r cat dir <<<"$entry"
      echo "[[scanner.master]]"
      echo "category = \"$cat\""
      echo "path = \"$TREE/$dir\""
      if [ "$list" = 1 ]; then
        echo "list_file = \"$TREE/fullfiletimelist\""
        echo "list_base = \"$TREE\""
      fi
      echo
    done
  } >"$file"
}

# The tree's fullfiletimelist, as quick-fedora-mirror writes it (whole seconds).
write_list() {
  {
    printf '[Version]\n2\n\n[Files]\n'
    (cd "$TREE" && find pub -printf '%T@\t%y\t%s\t%p\n' | sed 's/^\([0-9]*\)\.[0-9]*/\1/' |
      sort -t "$(printf '\t')" -k4)
    printf '\n[Checksums SHA1]\n'
  } >"$TREE/fullfiletimelist.new"
  mv "$TREE/fullfiletimelist.new" "$TREE/fullfiletimelist"
}

# Replaces N repomd.xml files as rsync does (a temporary file renamed over each).
touch_repomd() {
  local n=$1 i=0
  while read -r f; do
    sed 's#<revision>#<revision>9#' "$f" >"$f.tmp" && mv "$f.tmp" "$f"
    i=$((i + 1))
  done < <(find "$TREE/pub/fedora/linux/updates" -name repomd.xml | sort | head -n "$n")
  say "replaced $i repomd.xml"
}

RESULTS=()
# measure NAME LIMIT_SECONDS COMMAND…: wall time and peak RSS of one command, and the scan's
# per-category counters.
measure() {
  local name=$1 limit=$2
  shift 2
  say "$name (load average $(cut -d' ' -f1-3 /proc/loadavg)) …"
  if ! timeout "$limit" /usr/bin/time -f '%e %M' -o "$WORK/time.$name" "$@" \
      >"$WORK/out.$name" 2> >(tee "$WORK/err.$name" >&2); then
    cat "$WORK/out.$name" >&2
    echo "bench-scan: $name failed (or ran over ${limit}s)" >&2
    exit 1
  fi
  local wall rss
  read -r wall rss < <(tail -n1 "$WORK/time.$name")
  # "Fedora Linux: 12000 directories (walk: 0 listed, …)" → totals over the categories.
  local seen listed hashed
  read -r seen listed hashed < <(awk '
    /^[^ ].*: [0-9]+ directories \(/ {
      for (i = 1; i <= NF; i++) {
        if ($(i+1) == "directories") s += $i
        if ($(i+1) == "listed,") l += $i
        if ($(i+1) == "files" && $(i+2) == "hashed,") h += $i
      }
    }
    END { print s + 0, l + 0, h + 0 }' "$WORK/out.$name")
  local added
  added=$(awk '/file details: [0-9]+ added/ { for (i = 1; i <= NF; i++) if ($i == "details:") a += $(i+1) } END { print a + 0 }' "$WORK/out.$name")
  RESULTS+=("$name|$wall|$((rss / 1024))|$seen|$listed|$hashed|$added")
}

IFS=, read -r -a BACKEND_LIST <<<"$BACKENDS"
for backend in "${BACKEND_LIST[@]}"; do
  for mode in walk list; do
    case "$backend" in
      sqlite)
        URL="sqlite://$WORK/$backend-$mode/mirrorfleet.db"
        ;;
      postgres)
        command -v psql >/dev/null || { say "psql missing: PostgreSQL skipped"; continue 2; }
        psql -q "$PG_URL" -c 'SELECT 1' >/dev/null 2>&1 || { say "$PG_URL unreachable: PostgreSQL skipped"; continue 2; }
        if [ "$mode" = walk ]; then URL=$(schema_url "$SCHEMA"); else URL=$(schema_url "${SCHEMA}_list"); fi
        pg_drop
        ;;
      *) echo "bench-scan: unknown backend $backend" >&2; exit 2 ;;
    esac
    DIR=$WORK/$backend-$mode
    rm -rf "$DIR"
    mkdir -p "$DIR"
    export MIRRORFLEET__DATA__DIR=$DIR/data
    config "$DIR/mirrorfleet.toml" "$([ "$mode" = list ] && echo 1 || echo 0)"
    MFC=("$MF" --config "$DIR/mirrorfleet.toml" --database-url "$URL")
    "${MFC[@]}" init >/dev/null
    "${MFC[@]}" import inventory "$TREE/inventory.json" >/dev/null
    P=$backend.$mode
    if [ "$mode" = walk ]; then
      measure "$P.cold" 3600 "${MFC[@]}" scan
      measure "$P.warm1" 600 "${MFC[@]}" scan
      measure "$P.warm2" 600 "${MFC[@]}" scan
      measure "$P.warm3" 600 "${MFC[@]}" scan
      sleep 1
      touch_repomd 10
      measure "$P.changed10" 600 "${MFC[@]}" scan
      measure "$P.full" 3600 "${MFC[@]}" scan --full
    else
      write_list
      sleep 1
      measure "$P.cold" 3600 "${MFC[@]}" scan
      measure "$P.unchanged" 600 "${MFC[@]}" scan
      sleep 1
      touch_repomd 10
      write_list
      measure "$P.changed10" 600 "${MFC[@]}" scan
    fi
    echo "== $P: the cold scan's summary"
    sed -n '/directories (/,/^  repositories/p' "$WORK/out.$P.cold" | head -n 12
    unset MIRRORFLEET__DATA__DIR
  done
done

echo "== wall time, peak RSS and the scan's counters (sums over the three categories)"
printf '%-24s %9s %9s %8s %8s %8s %8s\n' step "wall (s)" "RSS (MiB)" seen listed hashed added
for r in "${RESULTS[@]}"; do
  IFS='|' read -r name wall rss seen listed hashed added <<<"$r"
  printf '%-24s %9s %9s %8s %8s %8s %8s\n' "$name" "$wall" "$rss" "$seen" "$listed" "$hashed" "$added"
done
