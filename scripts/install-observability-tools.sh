#!/usr/bin/env bash
# Installs promtool (Debian's `prometheus` package) for tests/deploy/test_observability.py, which checks
# deploy/observability/prometheus/alerts.yml with `promtool check rules`. Idempotent; needs root (apt-get).
set -euo pipefail

if command -v promtool >/dev/null 2>&1; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Only promtool is used: nothing here runs the packaged Prometheus server.
apt-get install -y -qq --no-install-recommends prometheus >/dev/null
command -v promtool >/dev/null
