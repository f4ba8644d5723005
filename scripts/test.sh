#!/usr/bin/env bash
# Set up and run the whole test suite, on SQLite and on PostgreSQL (skipped with a reason when
# PostgreSQL is not reachable, except in CI where it must be), browser tests in Chromium included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
.venv/bin/ruff check app tests migrations
.venv/bin/ruff format --check app tests migrations
# One worker process per core (pytest-xdist), each with databases of its own; a worker that runs
# out of tests takes some from another's queue (worksteal), as the slow ones are few and long.
exec .venv/bin/python -m pytest -n auto --dist worksteal --durations=20 "$@"
