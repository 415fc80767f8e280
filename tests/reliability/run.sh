#!/usr/bin/env bash
# `make reliability` (tests/reliability/run.sh): the heavier reliability items, bounded in time and count, loopback only.
# Needs PostgreSQL (RELIABILITY_DATABASE_URL, a scratch database: created if missing) and starts its own
# redis-server processes on RELIABILITY_REDIS_PORT (default 6507) and the next three ports (the Redis-lost test
# kills and restarts PORT + 2); never touches another Redis.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
DB_URL="${RELIABILITY_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/nebengjek_reliability}"
PORT="${RELIABILITY_REDIS_PORT:-6507}"
db_name="${DB_URL##*/}"
psql "${DB_URL%/*}/postgres" -tAc "SELECT 1 FROM pg_database WHERE datname='${db_name}'" | grep -q 1 \
  || createdb -h 127.0.0.1 -U postgres "${db_name}"

echo "== killed worker: 1,000 rides, 5 SIGKILLs =="
DATABASE_URL="$DB_URL" $PY tests/reliability/killed_worker.py --rides 1000 --kills 5 --redis-port "$PORT"

echo "== backpressure: 50 normal sockets, one that stops reading, 10,000 pushes (~80 MB) to it =="
DATABASE_URL="$DB_URL" $PY tests/reliability/backpressure.py --normal 50 --rounds 50 --flood 200 --redis-port "$PORT" \
  --http-port "${RELIABILITY_HTTP_PORT:-8850}"

echo "== pytest reliability + security suites with larger example counts =="
# The pytest items (races, fuzzers, stateful ledger) with 6x the CI examples; each test creates its own test DB.
FUZZ_EXAMPLES=150 STATEFUL_EXAMPLES=60 RELIABILITY_REDIS_PORT=$((PORT + 1)) DATABASE_URL="$DB_URL" \
  EMBEDDED_REDIS_PORT=$((PORT + 3)) .venv/bin/pytest tests/reliability tests/security -p no:logging \
  -o timeout=900 -rxX
