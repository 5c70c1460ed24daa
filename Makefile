# One command each: `make book` sets up and builds the book, `make test` sets up and tests it.
# Both create .venv and install requirements.txt on first use (and again when it changes).
VENV   ?= .venv
PY     := $(VENV)/bin/python
JB     := $(VENV)/bin/jupyter-book
STAMP  := $(VENV)/.installed
BUILD_FLAGS ?= -W -n --keep-going

.PHONY: install book test canary system-deps browser-deps prefetch bench clean

LOCK   := requirements-lock.txt
# How the lock is made from requirements.txt: every platform's markers, hashes of every file,
# the book's own packages left out (they are installed from the checkout).
LOCK_COMMAND := uv pip compile --universal --generate-hashes --python-version 3.11 \
	--no-emit-package dlbook --no-emit-package dlbook-tools --quiet requirements.txt -o $(LOCK)

.PHONY: lock

# Everything from the lock, each file checked against its hash (pip refuses a mismatch), then
# the book's two packages from the checkout with the locked setuptools.
$(STAMP): $(LOCK) code/learner/pyproject.toml code/tools/pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e ./code/learner -e ./code/tools
	touch $@

install: $(STAMP)

## Resolve requirements.txt into requirements-lock.txt again (after changing a pin).
lock: $(STAMP)
	$(VENV)/bin/$(LOCK_COMMAND)

## Build the HTML book into _build/html and the learner notebooks into _build/notebooks
## (executes pages whose code changed; the rest is cached).
book: $(STAMP) system-deps
	$(PY) -m dlbook_tools.build $(BUILD_FLAGS)

## Run the whole test suite, book build included.
test: $(STAMP) system-deps browser-deps
	$(PY) -m pytest

## The canary (needs PyPI; a few minutes after the build): run the learner notebooks of
## episodes 2 and 4 as on Colab, but with the newest releases of what Colab preinstalls, and check
## that their first cell's report flags each package whose major.minor differs from the pin.
## Builds the book first; a plain `make test` skips it. A weekly workflow runs it (canary.yml).
canary: book
	DLBOOK_TEST_BUILD=$(CURDIR) $(PY) -m pytest -s --canary tests/test_canary.py

# $(call debian-package,COMMAND,PACKAGE,WHAT MISSING IT MEANS): install PACKAGE with apt-get when
# COMMAND is missing and we are root; otherwise say what is missing. Never fails the target.
define debian-package
	@if ! command -v $(1) >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Debian's $(2)"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2) >/dev/null) \
	      || echo "warning: could not install $(2); $(3)"; \
	  else \
	    echo "note: no $(1) (install the $(2) package as root); $(3)"; \
	  fi; \
	fi
endef

## Graphviz, which keras.utils.plot_model draws with (episode 2). Without it the page shows
## Keras's message instead of the diagram.
system-deps:
	$(call debian-package,dot,graphviz,episode 2 will show no model diagram)

## Tools of the browser tests: Debian's Chromium and the node packages of package-lock.json
## (axe-core). Without them the browser tests skip and say why; nothing here fails the test run.
browser-deps:
	$(call debian-package,chromium,chromium,the browser tests will skip)
	@if command -v npm >/dev/null 2>&1; then \
	  [ node_modules/.package-lock.json -nt package-lock.json ] \
	    || npm ci --no-audit --no-fund --loglevel=error \
	    || echo "warning: npm ci failed; the browser tests will skip"; \
	else \
	  echo "note: no npm to install axe-core; the browser tests will skip"; \
	fi

## Download and verify every data set and the pre-trained weights.
prefetch: $(STAMP)
	$(PY) -m dlbook.prefetch

## Time a cold build and a warm rebuild; print per-page execution seconds.
bench: $(STAMP)
	$(PY) -m dlbook_tools.bench

clean:
	rm -rf _build
