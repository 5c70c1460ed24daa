# One command each: `make book` sets up and builds the book, `make test` sets up and tests it.
# Both create .venv and install requirements.txt on first use (and again when it changes).
VENV   ?= .venv
PY     := $(VENV)/bin/python
JB     := $(VENV)/bin/jupyter-book
STAMP  := $(VENV)/.installed
BUILD_FLAGS ?= -W -n --keep-going

.PHONY: install book test notebooks prefetch bench clean

$(STAMP): requirements.txt code/pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

install: $(STAMP)

## Build the HTML book into _build/html (executes pages whose code changed; the rest is cached).
book: $(STAMP)
	$(PY) -m dlbook.build $(BUILD_FLAGS)

## Run the whole test suite, book build included.
test: $(STAMP)
	$(PY) -m pytest

## Regenerate the .ipynb twins of the pages (for Colab and Binder) after editing a page.
notebooks: $(STAMP)
	$(PY) -m dlbook.notebooks

## Download and verify every data set and the pre-trained weights.
prefetch: $(STAMP)
	$(PY) -m dlbook.prefetch

## Time a cold build and a warm rebuild; print per-page execution seconds.
bench: $(STAMP)
	$(PY) -m dlbook.bench

clean:
	rm -rf _build
