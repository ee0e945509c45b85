# Field Guide: `make run` serves the site, `make test` runs every test. Both set up
# everything first on a fresh machine (virtualenv, packages, database, content, embeddings).

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install chromium setup run test bench clean-data

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25.1"
	# The CPU build of torch first; with it installed, sentence-transformers keeps it
	# instead of pulling several GB of CUDA packages.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	# llama-cpp-python compiles llama.cpp the first time (about 6 minutes on 2 cores);
	# pip caches the built wheel for later installs.
	$(BIN)/python -m pip install --quiet -e . --group test
	touch $@

# Browser libraries (Chart.js) from the npm registry, served as static files.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(STAMP) node_modules/.package-lock.json

# Debian's Chromium for the browser tests (Playwright cannot download a browser here).
chromium:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq --no-install-recommends chromium chromium-driver; }

# Start the embedded database, migrate, load the glossary, compute missing embeddings.
setup: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py load_glossary
	$(BIN)/python manage.py reindex

run: setup
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

test: setup chromium
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: setup
	$(BIN)/python bench/run_all.py

# Stops nothing and deletes the embedded database: only for starting over.
clean-data:
	rm -rf .data
