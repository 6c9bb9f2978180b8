PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEVSTAMP := $(VENV)/.dev-installed

.PHONY: demo test test-pythons check docs bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	touch $(STAMP)

$(DEVSTAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install -q -e '.[dev]'
	@# The web UI's tests drive Debian's chromium (never Playwright's own downloaded browsers).
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q chromium; \
		else echo "the web UI tests need chromium: sudo apt-get install chromium"; fi; \
	fi
	$(BIN)/python -m pip install -q --no-deps -e tests/plugin_store
	$(BIN)/python tests/postgres_server.py install
	touch $(DEVSTAMP)

demo: $(STAMP)
	cd examples && ../$(BIN)/python quickstart.py

check: $(DEVSTAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/mypy

test: $(DEVSTAMP) check
	$(BIN)/python -m pytest

# The documentation site, in strict mode (a dead link or reference fails), into site/; the
# command line reference is first written anew from the parser.
docs: $(DEVSTAMP)
	$(BIN)/python -m tests.docs.cli_reference
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

# The suite on the oldest and the newest Python that pyproject.toml declares (each in its own
# .venv/pythons/3.X; about 6 minutes a version, plus 2 to set one up the first time).
test-pythons: $(DEVSTAMP)
	$(BIN)/python tests/pythons.py

bench: $(DEVSTAMP)
	$(BIN)/python benchmarks/overhead.py
	$(BIN)/python benchmarks/cache.py
	$(BIN)/python benchmarks/stores.py
	$(BIN)/python benchmarks/metrics.py
	$(BIN)/python benchmarks/resources.py
	$(BIN)/python benchmarks/trackers.py
	$(BIN)/python benchmarks/ui.py
	$(BIN)/python benchmarks/queries.py
	$(BIN)/python benchmarks/large_values.py
	$(BIN)/python benchmarks/scale.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache examples/.flightlog site
