# Two commands for a newcomer: `make run` (the whole system) and `make test` (the whole suite).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: run test lint venv admin demo bench reliability clean cluster cluster-deps drill

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

run: venv
	PORT=$(PORT) $(PY) manage.py runstack --port $(PORT)

test: venv
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# Lint, format check and types, configured in pyproject.toml; all three must be clean (CI runs this first).
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

admin: venv
	$(PY) manage.py migrate --verbosity 0
	$(PY) manage.py createsuperuser

# The stack in the background, seeded, with simulated drivers and passengers; watch http://127.0.0.1:8000/ops/.
# DEMO_DRIVERS, DEMO_PASSENGERS, DEMO_DURATION (seconds), SEED_STAFF_PASSWORD are read from the environment.
demo: venv
	PY=$(PY) PORT=$(PORT) ./scripts/demo.sh

# Benchmarks (bench/RESULTS.md): `make bench` (3 runs, ~15–25 min) or `make bench ARGS=--quick` (< 2 min).
# Uses DATABASE_URL / REDIS_URL when set (that Redis database is flushed!), else SQLite + a private Redis.
bench: venv
	$(PY) -m bench $(ARGS)

clean:
	rm -rf var/ .pytest_cache

# Reliability (docs/reliability.md): killed worker with 1,000 rides, backpressure with 50 sockets and 10,000 pushes,
# fuzzers and the stateful ledger with more examples. Needs PostgreSQL; starts its own redis-server processes on
# RELIABILITY_REDIS_PORT (default 6507) and the next three ports, uvicorn on RELIABILITY_HTTP_PORT (8850). ~11 min.
reliability: venv
	bash tests/reliability/run.sh

# The multi-node topology (docs/operations.md "Cluster"): HAProxy on PORT, CLUSTER_NODES (2) ASGI nodes on PORT+i,
# a Redis Cluster on CLUSTER_REDIS_PORT (7000)..+5, Celery workers and one beat on RabbitMQ (CELERY_BROKER_URL,
# default amqp://guest:guest@127.0.0.1:5672//), PostgreSQL from DATABASE_URL (required); CLUSTER_PGBOUNCER=true
# puts PgBouncer in front of it. Debian packages by name from scripts/install-cluster-deps.sh.
cluster-deps:
	bash scripts/install-cluster-deps.sh

cluster: venv cluster-deps
	PORT=$(PORT) $(PY) manage.py runcluster --port $(PORT)

# The failure drill on loopback (bounded, a few minutes): kills a node, a Redis master, a Celery worker and restarts
# RabbitMQ's connections under load; prints time to recover and anything lost. Needs DATABASE_URL and RabbitMQ.
drill: venv cluster-deps
	$(PY) -m tests.cluster.drill $(ARGS)
