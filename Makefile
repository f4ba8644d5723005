# Shortcuts; the scripts in scripts/ do the work (and run without make on a fresh machine).
.PHONY: all setup run test translations extract-messages lint

all: translations

setup:
	bash scripts/setup.sh --test

run:
	bash scripts/run-demo.sh

test:
	bash scripts/test.sh

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
