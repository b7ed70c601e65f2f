#!/usr/bin/env bash
# Installs the system packages mirrorfleet's build and tests need (Debian/Ubuntu).
# Idempotent and quiet: does nothing when everything is already there.
set -euo pipefail

need=()
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
# systemd: systemd-analyze, which tests/tests/deployment.rs runs on the units of ops/systemd.
for pkg in dnf createrepo-c rpm systemd; do
  have "$pkg" || need+=("$pkg")
done

if [ "${#need[@]}" -gt 0 ]; then
  echo "dev-setup: installing ${need[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  log=$(mktemp)
  if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
      --no-install-recommends "${need[@]}"; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "dev-setup: installing ${need[*]} failed" >&2
    exit 1
  fi
  rm -f "$log"
fi

# PostgreSQL is started when present but stopped (CI machines ship it installed).
if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  ver=$(ls /etc/postgresql | head -n1)
  if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$ver" main start >/dev/null 2>&1 || true
  fi
fi

# moto's S3 server, from PyPI: the publisher's S3 tests (control-plane/tests/publish_s3.rs)
# run it on 127.0.0.1 with the same interpreter (MIRRORFLEET_TEST_PYTHON, default python3).
PY="${MIRRORFLEET_TEST_PYTHON:-python3}"
if ! "$PY" -c 'import moto.server' >/dev/null 2>&1; then
  echo "dev-setup: installing moto[server] (PyPI)" >&2
  log=$(mktemp)
  if ! "$PY" -m pip install -q --disable-pip-version-check 'moto[server]' >"$log" 2>&1 \
      || ! "$PY" -c 'import moto.server' >>"$log" 2>&1; then
    cat "$log" >&2
    echo "dev-setup: installing moto[server] failed" >&2
    exit 1
  fi
  rm -f "$log"
fi
