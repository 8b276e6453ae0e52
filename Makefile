# Two commands on a fresh machine (see README):
#   make demo   set everything up, then run the main job on the offline default config
#   make test   set everything up, then run the whole test suite (what CI runs)
# While working: make test-fast   the unit tests only (everything not marked slow; <= 3 min)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test test-fast clean

setup: $(STAMP)

# Reinstall only when the declared dependencies change.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name bffkit --display-name "bffkit (.venv)" > /dev/null
	touch $(STAMP)

demo: setup
	$(BIN)/bffkit run --config data/configs/demo.yaml

# The browser test drives Debian's chromium (no browser download); install it when missing.
test: setup
	@command -v chromium >/dev/null 2>&1 || apt-get install -y -q chromium >/dev/null 2>&1 || \
		echo "note: chromium could not be installed; the browser test will be skipped"
	$(BIN)/python -m pytest

test-fast: setup
	$(BIN)/python -m pytest -m "not slow"

clean:
	rm -rf $(VENV) data/workspace
