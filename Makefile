# Two commands on a fresh machine (see README):
#   make demo   set everything up, then run the main job on the offline default config
#   make test   set everything up, then run the whole test suite (what CI runs)
# While working: make test-fast   the unit tests only (everything not marked slow; <= 3 min)
#                make lab         JupyterLab on 127.0.0.1 over a working copy of the notebooks (lab/, untracked)
#                make lock        re-resolve requirements.lock after editing pyproject.toml's dependencies
#                                 (make lock UPGRADE=1: move every pin to the newest allowed release)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
EXTRAS := diffusers,openai,dev

.PHONY: setup demo lab test test-fast lock clean

setup: $(STAMP)

# Reinstall only when the declared dependencies change. Every package comes at its locked version;
# pip (not uv) because torch 2.14.1 / torchvision 0.29.1 come from this machine's wheel cache.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c requirements.lock pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[$(EXTRAS)]'
	$(BIN)/python -m ipykernel install --sys-prefix --name bffkit --display-name "bffkit (.venv)" > /dev/null
	touch $(STAMP)

demo: setup
	$(BIN)/bffkit run --config data/configs/demo.yaml

# The notebooks open from lab/ (made once by `bffkit init`, over the demo's workspace), so that
# running them never writes outputs into the tracked notebooks/.
lab: setup
	@test -d lab || $(BIN)/bffkit init lab --workspace $(CURDIR)/data/workspace
	$(BIN)/jupyter lab --ip=127.0.0.1 --no-browser --notebook-dir=lab

# The browser test drives Debian's chromium (no browser download); install it when missing.
test: setup
	@command -v chromium >/dev/null 2>&1 || apt-get install -y -q chromium >/dev/null 2>&1 || \
		echo "note: chromium could not be installed; the browser test will be skipped"
	$(BIN)/python -m pytest --durations=25

test-fast: setup
	$(BIN)/python -m pytest -m "not slow"

# pip-compile resolves with pip, so it sees the same wheel cache as the install; tests/test_lock.py
# fails when pyproject.toml and the lock disagree.
lock:
	@test -x $(BIN)/pip-compile || { $(PYTHON) -m venv $(VENV) && $(BIN)/python -m pip install --quiet pip-tools; }
	$(BIN)/pip-compile --quiet --all-extras --strip-extras --no-emit-index-url --no-emit-find-links --allow-unsafe \
		--constraint constraints.txt $(if $(UPGRADE),--upgrade) --output-file requirements.lock pyproject.toml

clean:
	rm -rf $(VENV) data/workspace
