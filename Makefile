# GovAssure — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app wsgi
STAMP := $(VENV)/.installed

.PHONY: run test lint bench install system-packages test-packages init demo clean translations

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -U pip wheel
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Debian packages the app needs (CJK fonts, PDF rendering); test-packages adds Chromium, PostgreSQL, Redis.
system-packages:
	@tools/system-packages.sh

test-packages:
	@tools/system-packages.sh --test

init: install
	$(FLASK) init

demo: init
	$(FLASK) demo

## make run: install, initialise instance/, load demo data, start web + worker + scheduler on :5000
run: system-packages demo
	$(FLASK) serve --host 127.0.0.1 --port 5000

## make test: the whole suite on SQLite, then again on a throwaway PostgreSQL
test: test-packages install
	tools/test.sh

lint: install
	$(VENV)/bin/ruff check app tests bench wsgi.py
	$(VENV)/bin/mypy

bench: test-packages install
	tools/bench.sh

## translations: refresh the catalog after changing UI strings, translate app/translations/en, compile
translations: install
	$(VENV)/bin/pybabel extract -F babel.cfg -k _l -k N_ --no-location --sort-output -o app/translations/messages.pot .
	$(VENV)/bin/pybabel update -i app/translations/messages.pot -d app/translations
	$(VENV)/bin/pybabel compile -d app/translations

clean:
	rm -rf $(VENV) build *.egg-info
