# The two commands a newcomer needs (see README.md):
#   make run    set everything up and run telecase on this machine, with demo traffic
#   make test   set everything up and run the test suite against real Kafka and PostgreSQL
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test install lint

# setuptools says "Editable installation." on every editable install: a note, not a problem.
$(BIN)/telecase: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	PYTHONWARNINGS="ignore:Editable installation" $(BIN)/pip install -q -e ".[dev]"
	touch $(BIN)/telecase

install: $(BIN)/telecase

# `set -m` (job control): telecase gets the terminal to itself, so Ctrl-C stops telecase (which
# prints its summary and exits 0) and not make with it (make would end with status 130).
run: install
	set -m; $(BIN)/python -m telecase run --demo; exit $$?

# -rs: the reason of each skipped test, listed at the end.
test: install
	$(BIN)/python -m pytest -q -rs -W error $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check streams projections connectors simulators telecase bench tests
	$(BIN)/mypy streams projections connectors simulators telecase bench
	$(BIN)/lint-imports --no-cache  # the import rules in pyproject.toml [tool.importlinter]
