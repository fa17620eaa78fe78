# handoff: the commands you need. `make` alone lists them.
.DEFAULT_GOAL := help
PYTHON ?= python3
# uv from PATH, else the one pip installs (`python -m uv` works wherever pip put it).
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
RUN := $(UV) run --locked

.PHONY: help install run test lint fmt typecheck bench migrate

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-10s %s\n", $$1, $$2}'

install: ## install uv with pip if missing, then the workspace (uv sync)
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv \
		|| $(PYTHON) -m pip install --quiet --user uv \
		|| $(PYTHON) -m pip install --quiet --user --break-system-packages uv
	@$(UV) sync --locked --quiet

run: install ## the whole system on embedded PostgreSQL and broker, with the demo feed
	@$(RUN) handoff dev --demo

test: install ## all tests: unit, integration (real PostgreSQL and broker), end to end
	@$(RUN) pytest

lint: install ## ruff check and format check
	@$(RUN) ruff check .
	@$(RUN) ruff format --check .

fmt: install ## format and fix with ruff
	@$(RUN) ruff format .
	@$(RUN) ruff check --fix .

typecheck: install ## mypy, strict
	@$(RUN) mypy shared/src services/scoring/src services/routing/src services/sla-watch/src services/notify/src

bench: install ## every benchmark, each beside its same-run baseline (python -m bench NAME for one)
	@$(RUN) python -m bench

migrate: install ## migrate every schema on HANDOFF_DATABASE_URL (a production step)
	@$(RUN) handoff migrate
