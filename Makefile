# Everything runs inside .venv, created on first use from the python3 on PATH (>= 3.10).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint setup clean bench

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# pip compiles every module to bytecode on one core (~35 s of a 55 s install here);
	# compileall does it on every core, leaving out the packages' own test suites (~15 s).
	# Some packages ship files for newer Pythons (torch's py312_intrinsics.py): like pip, we
	# leave those uncompiled rather than fail the setup.
	$(BIN)/python -m pip install --quiet --no-compile -e ".[test,dask,search,mlflow]"
	$(BIN)/python -m compileall -qq -j 0 -x '/tests/' $(VENV)/lib || true
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/dlcli train configs/quickstart.yaml

test: $(STAMP)
	$(BIN)/python -m pytest
	$(BIN)/ruff check dlcli tests benchmarks
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
