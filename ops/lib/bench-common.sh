# Shared setup of the database benchmarks (ops/bench-publish.sh, ops/bench-scan.sh). Sourced,
# not run. `bench_setup NAME HELP_LINES SCRIPT ARGS…` parses --backends, --work, --skip-build,
# --small and -h, and sets BACKENDS WORK BUILD SMALL PROFILE PG_URL SCHEMA SEED BIN REMOVE_WORK;
# it also clears the caller's MIRRORFLEET_CONFIG and MIRRORFLEET__* variables so no stray
# configuration is measured.
bench_setup() {
  local name=$1 help_lines=$2 script=$3
  shift 3
  BACKENDS=sqlite,postgres
  WORK=""
  BUILD=1
  SMALL=0
  while [ $# -gt 0 ]; do
    case "$1" in
      --backends) BACKENDS=$2; shift 2 ;;
      --work) WORK=$2; shift 2 ;;
      --skip-build) BUILD=0; shift ;;
      --small) SMALL=1; shift ;;
      -h|--help) sed -n "2,${help_lines}p" "$script"; exit 0 ;;
      *) echo "$name: unknown argument $1" >&2; exit 2 ;;
    esac
  done

  PROFILE=${PROFILE:-bench-release}
  PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/test}
  SCHEMA=${BENCH_SCHEMA:-${name//-/_}}
  SEED=${SEED:-1}
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/mirrorfleet/target}
  case "$PROFILE" in
    dev) BIN=$CARGO_TARGET_DIR/debug ;;
    *) BIN=$CARGO_TARGET_DIR/$PROFILE ;;
  esac

  [ -x /usr/bin/time ] || { echo "$name: /usr/bin/time is missing (Debian package \`time\`)" >&2; exit 1; }

  unset MIRRORFLEET_CONFIG
  for v in $(env | sed -n 's/^\(MIRRORFLEET__[A-Z0-9_]*\)=.*/\1/p'); do unset "$v"; done

  if [ -z "$WORK" ]; then
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/$name.XXXXXX")
    REMOVE_WORK=1
  else
    mkdir -p "$WORK"
    WORK=$(cd "$WORK" && pwd)
    REMOVE_WORK=0
  fi
}
