# The two-command quick start: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEMO   := demo

.PHONY: demo test lint format bench clean chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install when the package metadata changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

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

test: $(VENV)/.installed-test chromium
	$(BIN)/python -m pytest -n auto

# The browser tests drive Debian's Chromium through Playwright; in CI (CI=true)
# they fail without it, elsewhere they are skipped.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing chromium (apt) for the browser tests"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
	  || echo "warning: could not install chromium: the browser tests will be skipped (CI fails them)"; }

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache
