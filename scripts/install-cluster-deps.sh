#!/usr/bin/env bash
# Debian packages that `make cluster`, `make drill` and the PgBouncer tests need (make run / make test need none):
# redis-server (the 6-process Redis Cluster, redis-cli --cluster create), haproxy (the load balancer),
# pgbouncer (optional transaction pooling in front of PostgreSQL). RabbitMQ and PostgreSQL are expected running.
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
need=()
command -v redis-server >/dev/null && command -v redis-cli >/dev/null || need+=(redis-server redis-tools)
command -v haproxy >/dev/null || need+=(haproxy)
command -v pgbouncer >/dev/null || need+=(pgbouncer)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
# The packages' own services are not used: the project starts its own processes on its own ports.
for service in haproxy pgbouncer; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$service" 2>/dev/null; then
    $SUDO systemctl stop "$service" || true
  fi
  if command -v service >/dev/null; then $SUDO service "$service" stop >/dev/null 2>&1 || true; fi
done
