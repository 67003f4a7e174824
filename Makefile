# The two commands: `make run` (everything, on the offline simulator) and `make test` (every check).
# `make serve`: the production stack on one machine (gunicorn, workers, beat, DEBUG off; docs/DEPLOY.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: run serve test lint format vendor-static clean secret-key

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Reinstall when pyproject.toml changes.
# Also var/secret_key (git-ignored): outside DEBUG the settings need a key of this checkout's own.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e .
	$(PY) scripts/services.py secret-key
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) scripts/services.py secret-key
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(PY) scripts/run.py

serve: $(VENV)/.installed
	$(PY) scripts/serve.py

secret-key: | $(PY)
	$(PY) scripts/services.py secret-key

test: $(VENV)/.installed-dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) scripts/services.py secret-key
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run
	bash scripts/ensure-chromium.sh
	$(PY) scripts/test.py $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

vendor-static:
	bash scripts/vendor-static.sh

clean:
	rm -rf $(VENV) .pytest-media .pytest_cache staticfiles test-artifacts
