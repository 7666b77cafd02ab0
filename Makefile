# Set-up and everyday commands. `make test` and `make demo` create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: test demo lint venv clean

$(BIN)/dkdpose: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

venv: $(BIN)/dkdpose

lint: venv
	$(BIN)/ruff check .

test: venv
	$(BIN)/ruff check .
	$(BIN)/pytest

demo: venv
	$(BIN)/dkdpose demo

clean:
	rm -rf $(VENV) runs/demo .pytest_cache
