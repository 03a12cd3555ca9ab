# Two entry points: `make serve` starts a node, `make test` runs the tests.
# Both create the virtualenv ($(VENV)) from the pinned requirements on first use.
VENV ?= .venv
PYTHON ?= python3
PORT ?= 5000
IMAGES_DIR ?= $(CURDIR)/images
OUTPUT_DIR ?= $(CURDIR)/output
PYTEST_ARGS ?=
STAMP := $(VENV)/.installed

.PHONY: serve test install clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)
	mkdir -p "$(IMAGES_DIR)" "$(OUTPUT_DIR)"
	PORT=$(PORT) IMAGES_DIR="$(IMAGES_DIR)" OUTPUT_DIR="$(OUTPUT_DIR)" $(VENV)/bin/gunicorn -c gunicorn.conf.py

test: $(STAMP)
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) output .pytest_cache
