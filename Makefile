# Field Guide: `make run` serves the site, `make test` runs every test. Both set up
# everything first on a fresh machine (virtualenv, packages, database, content, embeddings).

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install lock chromium setup run test bench clean-data

# Every Python package comes from the lock files in requirements/ (exact versions and
# hashes, made by pip-tools: see `make lock`), so a new release upstream changes nothing
# here until the lock is re-resolved on purpose.
LOCK_FILES := requirements/pip.txt requirements/lock.txt requirements/build.txt
PIP_COMPILE_FLAGS := --quiet --generate-hashes --allow-unsafe --strip-extras \
	--no-emit-index-url --no-emit-find-links

$(STAMP): $(LOCK_FILES) pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements/pip.txt
	# The lock pins torch's CPU build (2.13.0+cpu, from this machine's wheel folder).
	# llama-cpp-python is an sdist that compiles llama.cpp the first time (about 6 minutes
	# on 2 cores; pip caches the built wheel); its build tools are pinned by build.txt.
	$(BIN)/python -m pip install --quiet --require-hashes \
		--build-constraint requirements/build.txt -r requirements/lock.txt
	touch $@

# Re-resolve the lock files after a change to pyproject.toml or requirements/*.in: new
# dependencies are added, the other pins stay. `make lock UPGRADE=1` moves every package to
# the newest release the ranges allow. Either way, run `make test` afterwards and commit
# requirements/ together with the change that needed it.
lock:
	test -x .venv-lock/bin/python || $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --require-hashes -r requirements/tools.txt
	.venv-lock/bin/pip-compile $(PIP_COMPILE_FLAGS) $(if $(UPGRADE),--upgrade) -o requirements/tools.txt requirements/tools.in
	.venv-lock/bin/pip-compile $(PIP_COMPILE_FLAGS) $(if $(UPGRADE),--upgrade) -o requirements/pip.txt requirements/pip.in
	.venv-lock/bin/pip-compile $(PIP_COMPILE_FLAGS) $(if $(UPGRADE),--upgrade) -o requirements/build.txt requirements/build.in
	.venv-lock/bin/pip-compile $(PIP_COMPILE_FLAGS) $(if $(UPGRADE),--upgrade) --extra test \
		-o requirements/lock.txt pyproject.toml

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
