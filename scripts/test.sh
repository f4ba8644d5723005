#!/usr/bin/env bash
# Set up and run the whole test suite, on SQLite and on PostgreSQL (skipped with a reason when
# PostgreSQL is not reachable, except in CI where it must be), browser tests in Chromium included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
.venv/bin/ruff check app tests migrations
.venv/bin/ruff format --check app tests migrations
exec .venv/bin/python -m pytest "$@"
