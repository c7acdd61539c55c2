# `make test` and `make run` work on a fresh machine with only python3, pip and make.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Parity tests compare against PyTorch (CPU build). PARITY=0 skips installing it.
PARITY ?= 1
comma  := ,
EXTRAS := dev$(if $(filter 1,$(PARITY)),$(comma)parity)

.PHONY: test run lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: $(STAMP)
	@if [ "$$CI" = "true" ] && command -v pg_ctlcluster >/dev/null && ! pg_isready -q -h 127.0.0.1; then \
		pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start; fi
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -n 2 -q

# The service on SQLite (./trainforge.db; TRAINFORGE_DATABASE_URL overrides): migrate, create
# a first team and print its key if there is none, then serve on 127.0.0.1:8000 with one
# worker process until Ctrl-C.
run: $(STAMP)
	$(PY) -m app.cli serve --host 127.0.0.1 --port 8000 --first-team default

bench: $(STAMP)
	$(PY) bench/engine_ops.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
