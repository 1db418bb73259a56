# The README's two commands:
#   make book   build the whole book at the default profile -> book/_build/html/index.html
#   make test   unit tests + the ci-profile book, built offline (HTML checks)
# Both create the virtual environment .venv (Python >= 3.11) and install the package with its
# book and test extras when pyproject.toml is newer than the last install.
PYTHON ?= python3
VENV ?= .venv
PROFILE ?= default
# notebooks run side by side in make book (each once the notebooks it depends on are done), their
# models trained on one shared pool of workers, one per core (misgen build --parallel)
PARALLEL ?= 3
# pytest-xdist processes for make test: one per CPU (TEST_WORKERS=0: all in one process); one
# test file per process at a time, so the local ci book (test_book.py) and the Dask one
# (test_book_dask.py), the first two files (tests/conftest.py orders them), are built side by
# side first (files in collection order: xdist would otherwise start with the files of most tests)
TEST_WORKERS ?= logical
BIN := $(VENV)/bin
PYTEST := $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder
STAMP := $(VENV)/.misgen-installed

.PHONY: book test test-quick install

book: $(STAMP)
	$(BIN)/misgen build --profile $(PROFILE) --parallel $(PARALLEL)

test: $(STAMP)
	$(PYTEST)

test-quick: $(STAMP)  ## without the ci-profile book
	$(PYTEST) -m "not book"

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is needed; " + sys.executable + " is " + sys.version.split()[0] + " (set PYTHON=...)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e '.[book,test]'
	touch $(STAMP)
