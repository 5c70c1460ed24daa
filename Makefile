# One command each: `make book` sets up and builds the book, `make test` sets up and tests it.
# Both create .venv and install requirements.txt on first use (and again when it changes).
VENV   ?= .venv
PY     := $(VENV)/bin/python
JB     := $(VENV)/bin/jupyter-book
STAMP  := $(VENV)/.installed
BUILD_FLAGS ?= -W -n --keep-going

.PHONY: install book test system-deps browser-deps notebooks prefetch bench clean

$(STAMP): requirements.txt code/learner/pyproject.toml code/tools/pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

install: $(STAMP)

## Build the HTML book into _build/html (executes pages whose code changed; the rest is cached).
book: $(STAMP) system-deps
	$(PY) -m dlbook_tools.build $(BUILD_FLAGS)

## Run the whole test suite, book build included.
test: $(STAMP) system-deps browser-deps
	$(PY) -m pytest

## Graphviz, which keras.utils.plot_model draws with (episode 2); installed with apt-get when
## missing and we are root. Without it the page shows Keras's message instead of the diagram.
system-deps:
	@if ! command -v dot >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Debian's graphviz for keras.utils.plot_model"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null) \
	      || echo "warning: could not install graphviz; episode 2 will show no model diagram"; \
	  else \
	    echo "note: no Graphviz 'dot' (install the graphviz package); episode 2 will show no model diagram"; \
	  fi; \
	fi

## Tools of the browser tests: Debian's Chromium (installed with apt-get when missing and we
## are root) and the node packages of package-lock.json (axe-core). Without them the browser
## tests skip and say why; nothing here fails the test run.
browser-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Debian's chromium for the browser tests"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "warning: could not install chromium; the browser tests will skip"; \
	  else \
	    echo "note: no /usr/bin/chromium (install the chromium package as root); the browser tests will skip"; \
	  fi; \
	fi
	@if command -v npm >/dev/null 2>&1; then \
	  [ node_modules/.package-lock.json -nt package-lock.json ] \
	    || npm ci --no-audit --no-fund --loglevel=error \
	    || echo "warning: npm ci failed; the browser tests will skip"; \
	else \
	  echo "note: no npm to install axe-core; the browser tests will skip"; \
	fi

## Regenerate the .ipynb twins of the pages (for Colab and Binder) after editing a page.
notebooks: $(STAMP)
	$(PY) -m dlbook_tools.notebooks

## Download and verify every data set and the pre-trained weights.
prefetch: $(STAMP)
	$(PY) -m dlbook.prefetch

## Time a cold build and a warm rebuild; print per-page execution seconds.
bench: $(STAMP)
	$(PY) -m dlbook_tools.bench

clean:
	rm -rf _build
