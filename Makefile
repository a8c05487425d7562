# setup: virtual environment + package + perceptual weights (idempotent, quick when done)
# repro: setup, then the whole DVC pipeline;  test: setup and a browser, then the whole test suite (a plain
# `pytest` skips the tests marked slow and e2e)
# browser: Debian's chromium + chromium-driver for the page's real-browser test (apt-get, as root;
# nothing to do when both are installed)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup browser repro test bench clean-venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-compile -e '.[test]'
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib >/dev/null || true  # pip compiles on one core; this on all
	touch $@

setup: $(STAMP)
	$(BIN)/python -m inpaint.weights provision

browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; } \
	  || echo "make browser: could not install chromium and chromium-driver (apt-get, as root); the browser test will be skipped"

repro: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

test: setup browser
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -m ""  # every test, the slow and e2e ones too

bench: setup
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean-venv:
	rm -rf $(VENV)
