#!/usr/bin/env bash
# Set up everything the portal needs on a Debian machine: system libraries, a virtual
# environment with the Python packages, compiled translations, and the database schema.
#   scripts/setup.sh          what running the portal needs
#   scripts/setup.sh --test   also what the tests need (Chromium, test packages)
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=false
[ "${1:-}" = "--test" ] && want_test=true

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
need() { dpkg -s "$1" >/dev/null 2>&1 || missing+=("$1"); }
if command -v dpkg >/dev/null 2>&1; then
  # WeasyPrint draws PDFs with Pango; DejaVu is the font the PDFs use.
  need libpango-1.0-0; need libpangoft2-1.0-0; need fonts-dejavu-core; need tzdata
  # HarfBuzz's subsetter: WeasyPrint's font subsets, and the values set over certificates.
  need libharfbuzz-subset0
  python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || { need python3-venv; need python3-pip; }
  # Tests render PDF pages to images (poppler) and read QR codes off them (zbar), as a phone would.
  if $want_test; then need chromium; need poppler-utils; need zbar-tools; fi
  # The fault tests start their own PostgreSQL cluster (initdb, pg_ctl) to restart it under load.
  if $want_test && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then need postgresql; fi
  if [ ${#missing[@]} -gt 0 ]; then
    echo "Installing system packages: ${missing[*]}"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
if $want_test; then
  .venv/bin/python -m pip install -q -e '.[test]'
else
  .venv/bin/python -m pip install -q -e .
fi
.venv/bin/pybabel compile -d app/locale -D messages --statistics
