# The two commands: `make run` (everything, on the offline simulator) and `make test` (every check).
# `make serve`: the production stack on one machine (gunicorn, workers, beat, DEBUG off; docs/DEPLOY.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python

# `check` and `makemigrations` run the system checks, which refuse a production setup without
# FIELD_ENCRYPTION_KEYS (accounts.E001); they only inspect code, so the tests' throwaway key will do.
CHECK_KEYS := FIELD_ENCRYPTION_KEYS="$${FIELD_ENCRYPTION_KEYS:-Yn_G-iTgBdFVgd5zAQneyf_FK-8TYm1u_8Jvj2BRnGA=}"

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
	$(CHECK_KEYS) $(PY) manage.py check
	$(CHECK_KEYS) $(PY) manage.py makemigrations --check --dry-run
	bash scripts/ensure-chromium.sh
	$(PY) scripts/test.py $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

vendor-static:
	bash scripts/vendor-static.sh

clean:
	rm -rf $(VENV) .pytest-media .pytest_cache staticfiles test-artifacts
