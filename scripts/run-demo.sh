#!/usr/bin/env bash
# Set up, create the SQLite database with demo data, and serve the portal on http://127.0.0.1:8000
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/portal db upgrade
# Certificates are signed with a self-signed development key (made once, kept in var/keys/).
.venv/bin/portal keys create-dev
.venv/bin/portal demo-data
echo "Mail is written to var/outbox/ (one .eml file per message)."
exec .venv/bin/portal serve --host 127.0.0.1 --port 8000 "$@"
