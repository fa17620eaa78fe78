# handoff: the commands you need. `make` alone lists them.
.DEFAULT_GOAL := help
PYTHON ?= python3
# uv from PATH, else the one pip installs (`python -m uv` works wherever pip put it).
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
RUN := $(UV) run --locked

.PHONY: help install run test check pytest test-tools soak lint fmt typecheck bench migrate

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-10s %s\n", $$1, $$2}'

install: ## install uv with pip if missing, then the workspace (uv sync)
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv \
		|| $(PYTHON) -m pip install --quiet --user uv \
		|| $(PYTHON) -m pip install --quiet --user --break-system-packages uv
	@$(UV) sync --locked --quiet

run: install ## the whole system on embedded PostgreSQL and broker, with the demo feed
	@$(RUN) handoff dev --demo

# What CI runs (.ci/run): lint and types first (seconds), so a style or type error fails fast,
# then every test. Any failure stops make with a non-zero status, which fails CI.
test: lint typecheck pytest ## the gate: lint, typecheck, then all tests (what CI runs)

check: test ## the same as make test

# Two workers (pytest-xdist), each with its own PostgreSQL and broker: the e2e and the
# reliability layers each run whole on one worker, side by side; the other modules fill in.
# TEST_WORKERS=0 runs everything in one process.
TEST_WORKERS ?= 2

pytest: install test-tools ## the tests only: unit, integration (real PostgreSQL and broker), end to end
	@$(RUN) pytest -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder

# Debian packages the tests drive: chromium (the insight dashboard, headless) with a Japanese
# font (its labels), promtool (deploy/prometheus rules), docker-compose (`config` checks
# deploy/compose.yaml; no engine needed) and the postgresql server (the production-path test,
# tests/e2e/test_production_path.py). Installed only when missing, and only where apt-get can
# run as root; elsewhere the tests that need them say so and skip.
test-tools: ## install chromium, a CJK font, promtool, docker-compose and postgresql from Debian when missing (apt-get)
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v promtool >/dev/null 2>&1 || missing="$$missing prometheus"; \
	command -v docker-compose >/dev/null 2>&1 || missing="$$missing docker-compose"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	[ -e /usr/share/fonts/opentype/ipafont-gothic ] || missing="$$missing fonts-ipafont-gothic"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing$$missing (apt-get)"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
		else \
			echo "not installed:$$missing (needs root and apt-get); their tests will skip"; \
		fi; \
	fi

soak: install ## fault scenarios at 10x the load (HANDOFF_SOAK=N), then memory under 100k rejected requests
	@HANDOFF_SOAK=$${HANDOFF_SOAK:-10} $(RUN) pytest tests/reliability -m reliability \
		--timeout=$$((150 * $${HANDOFF_SOAK:-10}))
	@$(RUN) python -m bench.rejected

lint: install ## ruff check and format check
	@$(RUN) ruff check .
	@$(RUN) ruff format --check .

fmt: install ## format and fix with ruff
	@$(RUN) ruff format .
	@$(RUN) ruff check --fix .

typecheck: install ## mypy, strict, over the code, the tests and the benchmarks
	@$(RUN) mypy shared/src dev/src services/ingress/src services/scoring/src services/routing/src services/sla-watch/src services/insight/src services/notify/src tests bench

bench: install ## every benchmark, each beside its same-run baseline (python -m bench NAME for one)
	@$(RUN) python -m bench

migrate: install ## migrate every schema on HANDOFF_DATABASE_URL (a production step)
	@$(RUN) handoff migrate
