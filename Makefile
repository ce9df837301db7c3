# The two-command quick start: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEMO   := demo

.PHONY: demo test tools lint format docs bench clean constraints

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install when the package metadata or the pins change. Every library at the
# version in constraints.txt, so `make test` here, on another machine and in CI
# runs against the same code; `make constraints` moves the pins.
$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -c constraints.txt -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $@ $(VENV)/.installed

# The newest versions pyproject.toml allows, resolved in a throwaway virtualenv
# and pinned: run after changing a dependency, then `make test` and commit both.
CONSTRAINTS_VENV := .venv-constraints
constraints:
	rm -rf $(CONSTRAINTS_VENV)
	$(PYTHON) -m venv $(CONSTRAINTS_VENV)
	$(CONSTRAINTS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CONSTRAINTS_VENV)/bin/python -m pip install --quiet -e '.[test]'
	{ echo "# Every package of the .[test] install, pinned: made by make constraints"; \
	  echo "# (from pyproject.toml; edit that, not this)."; \
	  $(CONSTRAINTS_VENV)/bin/python -m pip freeze --exclude-editable; } > constraints.txt
	rm -rf $(CONSTRAINTS_VENV)

# A fresh demo every time: its own database and outbox under demo/.
demo: $(VENV)/.installed
	rm -rf $(DEMO) && mkdir -p $(DEMO)
	cd $(DEMO) && ../$(BIN)/digest ingest ../examples/articles
	cd $(DEMO) && ../$(BIN)/digest subscribers import ../subscribers.example.csv
	cd $(DEMO) && ../$(BIN)/digest send
	cd $(DEMO) && ../$(BIN)/digest preview -o preview.html
	@echo
	@echo "Outbox (.eml files, one per recipient): $(CURDIR)/$(DEMO)/outbox/"
	@echo "HTML preview:                           $(CURDIR)/$(DEMO)/preview.html"

# One pytest worker more than the cores: about a third of the suite's time is
# spent waiting on the servers and `digest` processes its tests start (on 2
# cores, 3 workers: 200-215 s; 2 workers: 225-245 s). WORKERS=N to choose.
WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) + 1 )))
test: $(VENV)/.installed-test tools
	$(BIN)/python -m pytest -n $(WORKERS)

# The email checks drive Debian's chromium (Playwright) and score mail with
# spamassassin: installed here when missing (as root, else with sudo). In CI
# (CI=true) a missing one fails those tests instead of skipping them.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
tools:
	@command -v chromium >/dev/null && command -v spamassassin >/dev/null || \
	  { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium spamassassin; }

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# docs/commands.md's --help blocks, written again from the commands themselves
# (tests/test_docs.py fails when they differ: run this after changing a help text).
docs: $(VENV)/.installed
	$(BIN)/python docs/generate.py

clean:
	rm -rf $(VENV) $(CONSTRAINTS_VENV) $(DEMO) .pytest_cache
