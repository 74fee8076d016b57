# cinempc -- two commands on a fresh machine:  `make demo`  and  `make test`.
# Both set up .venv from requirements.txt (all versions pinned there) on first use;
# re-running only re-installs when requirements.txt, setup.py or package.xml change.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.cinempc-installed
export PYTHONUNBUFFERED := 1
export RMW_IMPLEMENTATION ?= rmw_fastrtps_cpp
# Ultralytics must never try the network or write outside the project.
export YOLO_OFFLINE := 1
export YOLO_CONFIG_DIR := $(CURDIR)/.cache/ultralytics

.PHONY: install system-deps test lint bench demo freeze clean schema

install: $(STAMP)

$(STAMP): requirements.txt setup.py setup.cfg package.xml
	@command -v chromium >/dev/null 2>&1 || $(MAKE) --no-print-directory system-deps
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

# Debian's chromium drives the director app's browser test (Playwright with executable_path).
system-deps:
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null

lint: install
	$(VENV)/bin/ruff check .

test: install lint
	$(PY) -m pytest

bench: install
	$(PY) -m cinempc bench all

demo: install
	$(PY) -m cinempc demo

schema: install
	$(PY) -m cinempc shot schema --out docs/shot_spec.schema.json

freeze:
	$(PY) tools/freeze_requirements.py requirements.txt

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache runs
