# Two commands: `make run` starts the app, `make test` checks lint and types, then runs the whole suite.
PYTHON   ?= python3
VENV     := .venv
PY       := $(VENV)/bin/python
PORT     ?= 8501
CHROMIUM := /usr/bin/chromium
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint e2e-deps bench clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

run: $(VENV)/.installed
	$(VENV)/bin/streamlit run app.py --server.port $(PORT)

# pyproject.toml repeats the ranges of requirements.txt (dependencies) and requirements-dev.txt
# (the "dev" extra); this fails, naming the lines, when they drift apart.
define CHECK_DEPS
import re, sys
try:
    import tomllib
except ImportError:  # Python 3.10
    from pip._vendor import tomli as tomllib

def lines(path):
    stripped = (line.split("#")[0].strip() for line in open(path))
    return {re.sub(r"\s+", "", line) for line in stripped if line and not line.startswith("-")}

project = tomllib.load(open("pyproject.toml", "rb"))["project"]
ok = True
for path, listed in (("requirements.txt", project["dependencies"]),
                     ("requirements-dev.txt", project["optional-dependencies"]["dev"])):
    listed = {re.sub(r"\s+", "", item) for item in listed}
    for item in sorted(lines(path) - listed):
        print(f"pyproject.toml lacks {item!r} of {path}", file=sys.stderr); ok = False
    for item in sorted(listed - lines(path)):
        print(f"pyproject.toml has {item!r}, which {path} lacks", file=sys.stderr); ok = False
sys.exit(0 if ok else 1)
endef
export CHECK_DEPS

lint: $(VENV)/.installed-dev
	$(PY) -c "$$CHECK_DEPS"
	$(PY) -m ruff check vizcore pages ui app.py
	$(PY) -m ruff format --check vizcore
	$(PY) -m mypy vizcore

# The suite after lint (PYTEST_ARGS="-k cam" narrows it); when the browser tests were skipped, the
# last lines say so and how to run them.
test: lint
	@status=0; $(PY) -m pytest $(PYTEST_ARGS) || status=$$?; \
	if ! command -v chromium >/dev/null 2>&1 && [ ! -e $(CHROMIUM) ]; then \
	  echo; \
	  echo 'NOTE: the browser tests were SKIPPED: Debian'"'"'s chromium ($(CHROMIUM)) is not installed.'; \
	  echo '      To run them:  make e2e-deps   (installs it with apt-get), then make test again.'; \
	fi; \
	exit $$status

# Debian's chromium for the browser tests (Playwright drives it; no browser download).
e2e-deps:
	@if [ -x $(CHROMIUM) ]; then \
	  echo "e2e-deps: $(CHROMIUM) is installed"; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
	  echo "e2e-deps: no apt-get here: install Chromium so that $(CHROMIUM) exists" >&2; exit 1; \
	else \
	  echo "e2e-deps: installing Debian's chromium for the browser tests"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

bench: $(VENV)/.installed-dev
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info test-artifacts bench/results
