# cinempc -- two commands on a fresh machine:  `make demo`  and  `make test`.
# Both set up .venv from requirements.txt (all versions pinned there) on first use, then build the
# ROS 2 interface packages in interfaces/ into it (plain cmake, ~4 min on 2 cores, see README);
# re-running only re-installs when requirements.txt, setup.py or package.xml change, and only
# rebuilds the interfaces when a message, service or build file under interfaces/ changes.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.cinempc-installed
INTERFACES_STAMP := $(VENV)/.cinempc-interfaces
# dependency order: the stand-ins first (tf2_msgs, vision_msgs: only where no ROS install has them)
INTERFACE_PACKAGES := tf2_msgs vision_msgs cinempc_interfaces
INTERFACE_SOURCES := $(shell find interfaces -type f \( -name '*.msg' -o -name '*.srv' -o -name '*.cmake' \
                       -o -name CMakeLists.txt -o -name package.xml -o -name build.sh \) 2>/dev/null)
export PYTHONUNBUFFERED := 1
export RMW_IMPLEMENTATION ?= rmw_fastrtps_cpp
# Ultralytics must never try the network or write outside the project.
export YOLO_OFFLINE := 1
export YOLO_CONFIG_DIR := $(CURDIR)/.cache/ultralytics

.PHONY: install interfaces system-deps test lint bench demo freeze clean schema install-drone test-drone

install: $(STAMP) $(INTERFACES_STAMP)

interfaces: $(INTERFACES_STAMP)

# cinempc_interfaces + the tf2_msgs/vision_msgs stand-ins, generated and compiled into the venv itself
# (Python modules in its site-packages, libraries in .venv/lib: nothing to source).
$(INTERFACES_STAMP): $(INTERFACE_SOURCES) | $(STAMP)
	interfaces/build.sh $(VENV) build/interfaces $(INTERFACE_PACKAGES)
	@touch $@

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

# The flight-only venv of a companion computer (docs/hardware.md): the base install (requirements/drone.txt,
# pinned by requirements.txt) + the ROS 2 messages, no simulator, plots, ultralytics or torch.  From scratch
# every time (that is what it proves); `make test-drone` checks it with the full venv's pytest.  --no-compile:
# bytecode only for the modules the flight stack imports (written on first start), not for every dialect of
# pymavlink and every scipy test (~140 MB); identical files (one copy per soname in the wheels, ~200 MB)
# become hard links.
DRONE_VENV ?= .venv-drone
DRONE_PIP := $(DRONE_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-compile
install-drone:
	rm -rf $(DRONE_VENV) build/interfaces-drone
	@start=$$(date +%s); \
	$(PYTHON) -m venv $(DRONE_VENV) && \
	$(DRONE_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip setuptools wheel && \
	$(DRONE_PIP) -r requirements/drone.txt && \
	$(DRONE_PIP) --no-deps -r requirements/drone-nodeps.txt && \
	$(DRONE_PIP) --no-deps --no-build-isolation . && \
	interfaces/build.sh $(DRONE_VENV) build/interfaces-drone $(INTERFACE_PACKAGES) && \
	$(DRONE_VENV)/bin/python tools/hardlink_duplicates.py $(DRONE_VENV) && \
	echo "install-drone: $(DRONE_VENV) built in $$(( $$(date +%s) - start )) s, $$(du -sh $(DRONE_VENV) | cut -f1)"

test-drone: install lint install-drone
	CINEMPC_DRONE_VENV=$(DRONE_VENV) $(PY) -m pytest test/test_drone_install.py

freeze:
	$(PY) tools/freeze_requirements.py requirements.txt

clean:
	rm -rf $(VENV) $(DRONE_VENV) build *.egg-info .pytest_cache .ruff_cache runs
