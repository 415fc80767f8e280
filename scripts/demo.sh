#!/usr/bin/env bash
# `make demo`: the whole stack in the background, seeded, with simulated traffic to watch on /ops/.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
PORT=${PORT:-8000}
DRIVERS=${DEMO_DRIVERS:-40}
PASSENGERS=${DEMO_PASSENGERS:-25}
DURATION=${DEMO_DURATION:-300}
URL="http://127.0.0.1:$PORT"

mkdir -p var
"$PY" manage.py runstack --port "$PORT" > var/demo-stack.log 2>&1 &
stack=$!
trap 'kill -TERM $stack 2>/dev/null || true; wait $stack 2>/dev/null || true' EXIT
echo "starting the stack on $URL (log: var/demo-stack.log) ..."
for _ in $(seq 1 120); do
  if "$PY" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + '/health/ready', timeout=2)" "$URL" \
       2>/dev/null; then
    break
  fi
  if ! kill -0 "$stack" 2>/dev/null; then
    echo "the stack did not start:" >&2; tail -n 30 var/demo-stack.log >&2; exit 1
  fi
  sleep 1
done

"$PY" manage.py seed --drivers "$DRIVERS" --passengers "$PASSENGERS"
echo
echo ">>> open $URL/ops/ and log in with the staff user above (admin: $URL/admin/) <<<"
echo
"$PY" manage.py simulate --url "$URL" --drivers "$DRIVERS" --passengers "$PASSENGERS" --duration "$DURATION"
echo
echo "simulation over; the stack keeps running so you can look around /ops/ and /admin/. Ctrl-C stops it."
wait "$stack"
