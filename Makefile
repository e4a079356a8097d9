# The two commands of the README. Each sets itself up on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt constraints.txt | sha1sum | cut -c1-12)
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test browser

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt -c constraints.txt
	rm -f $(VENV)/.installed-*
	touch $@

## Start the dashboard on the local sandbox and data/ops.db, bound to 127.0.0.1 (ADDRESS=… to
## share it: refused unless [auth] is configured, the same check the app makes at every page).
ADDRESS ?= 127.0.0.1
run: $(STAMP)
	$(PY) -m lib.access check-bind $(ADDRESS)
	$(VENV)/bin/streamlit run app.py --server.address $(ADDRESS)

## Debian's chromium for the browser tests (never a downloaded browser build), and an emoji
## font so the screenshots show the page icons.
browser:
	@[ -x $(CHROMIUM) ] && fc-list | grep -qi "color emoji" || { $(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq chromium fonts-noto-color-emoji; }

## Run every test, after a lint (real errors, sorted imports, likely bugs, the 3.11 spelling:
## ruff.toml) and a type check of lib, ui, pages and app.py (lib strict: mypy.ini). Tests run on
## every core (pytest-xdist): each test makes its own files and servers on free ports.
test: $(STAMP) browser
	$(VENV)/bin/ruff check --quiet app.py lib ui pages tests bench
	$(VENV)/bin/mypy
	$(PY) -m pytest -n auto
