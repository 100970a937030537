# The two commands a newcomer needs (see README.md):
#   make run    set everything up and run telecase on this machine, with demo traffic
#   make test   set everything up and run the test suite against real Kafka and PostgreSQL
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test install lint

$(BIN)/telecase: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $(BIN)/telecase

install: $(BIN)/telecase

run: install
	$(BIN)/python -m telecase run --demo

test: install
	$(BIN)/python -m pytest -q -W error $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check streams projections connectors telecase tests
	$(BIN)/mypy streams projections connectors telecase
	$(BIN)/lint-imports --no-cache  # the import rules in pyproject.toml [tool.importlinter]
