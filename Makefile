# Two commands do all the set-up on a fresh machine (see README.rst):
#   make demo   build .venv and run std.echo end to end in a sandboxed host
#   make test   build .venv, run lint (ruff, mypy) and the test suite in two workers (starts RabbitMQ if needed)
#   make bench  build .venv and run the quick benchmark (under a minute)
#   make dist   build the sdist and the wheel into dist/ (what an operator installs)

PYTHON ?= $(shell python3 -c 'import sys, os; print(os.path.realpath(sys.executable))')
VENV := .venv
BIN := $(VENV)/bin

.PHONY: venv demo test lint bench dist clean

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv

$(VENV)/.installed: $(BIN)/uv setup.cfg pyproject.toml
	$(BIN)/uv pip install --python $(BIN)/python --quiet -e '.[executor,openstack,std,test,docs]'
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(BIN)/action-executor run std.echo output=hello

test: lint
	sh tools/ensure-rabbitmq.sh
	sh tools/ensure-test-packages.sh
	$(BIN)/python -m pytest -q -n 2

bench: venv
	$(BIN)/python benchmarks/run.py --quick
	sh tools/ensure-rabbitmq.sh
	$(BIN)/python benchmarks/service.py --actions 100 --warmup 20 --concurrency 8 32

dist: venv
	rm -rf dist
	@echo "building the sdist and the wheel into dist/ ..."
	$(BIN)/uv build --quiet --out-dir dist
	@ls dist

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m mypy

clean:
	rm -rf $(VENV) build dist *.egg-info
