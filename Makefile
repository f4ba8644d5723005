# Shortcuts; the scripts in scripts/ do the work (and run without make on a fresh machine).
.PHONY: all setup run test test-fast translations extract-messages lint

all: translations

setup:
	bash scripts/setup.sh --test

run:
	bash scripts/run-demo.sh

test:
	bash scripts/test.sh

# The developer's loop, after `make setup`: every test that needs neither a browser, nor
# PostgreSQL, nor a started server (SQLite only), on one worker per core, with 3 fuzzed examples
# per form instead of 8.
test-fast:
	PORTAL_FUZZ_EXAMPLES=3 .venv/bin/python -m pytest -n auto --dist worksteal -q \
		-m "not browser and not postgresql and not server"

# Compile the catalogues (app/locale/*/LC_MESSAGES/messages.mo).
translations:
	.venv/bin/pybabel compile -d app/locale -D messages

# Collect every translatable string into the template and update both catalogues.
extract-messages:
	.venv/bin/pybabel extract -F babel.cfg -k lazy_gettext -k _ --no-location --sort-output -o app/locale/messages.pot .
	.venv/bin/pybabel update -i app/locale/messages.pot -d app/locale -D messages --no-fuzzy-matching --ignore-obsolete

lint:
	.venv/bin/ruff check app tests migrations
	.venv/bin/ruff format --check app tests migrations
