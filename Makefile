# Entry points: `make serve` starts a node, `make test` runs the tests, `make lint` runs ruff and mypy.
# Each creates the virtualenv ($(VENV)) from the pinned requirements on first use, with this project
# installed in it (editable), so `python scripts/NAME.py` and `python -m scripts.NAME` work from anywhere.
VENV ?= .venv
PYTHON ?= python3
PORT ?= 5000
IMAGES_DIR ?= $(CURDIR)/images
OUTPUT_DIR ?= $(CURDIR)/output
PYTEST_ARGS ?=
STAMP := $(VENV)/.installed

.PHONY: serve test lint install clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	$(VENV)/bin/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)
	mkdir -p "$(IMAGES_DIR)" "$(OUTPUT_DIR)"
	PORT=$(PORT) IMAGES_DIR="$(IMAGES_DIR)" OUTPUT_DIR="$(OUTPUT_DIR)" $(VENV)/bin/gunicorn -c gunicorn.conf.py

test: $(STAMP)
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) output .pytest_cache .mypy_cache .ruff_cache
