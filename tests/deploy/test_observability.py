"""Dashboards and alerts as code (deploy/observability/): the rules pass promtool, every metric a panel or a rule
reads is on the app's live /metrics, and the compose `observability` profile wires the pieces together."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
OBSERVABILITY = ROOT / "deploy" / "observability"
ALERTS = OBSERVABILITY / "prometheus" / "alerts.yml"
PROMETHEUS_CONFIG = OBSERVABILITY / "prometheus" / "prometheus.yml"
DASHBOARD = OBSERVABILITY / "grafana" / "dashboards" / "nebengjek.json"
COMPOSE = ROOT / "docker-compose.yml"

needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None,
    reason="promtool is not installed: run scripts/install-observability-tools.sh (Debian's prometheus package)",
)

# PromQL words that are not metric names.
_PROMQL_WORDS = {
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "inf",
    "nan",
    "sum",
    "max",
    "min",
    "avg",
    "count",
    "rate",
    "le",
}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (label matchers, groupings, ranges and functions left out)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"(?<![A-Za-z0-9_:.])\d+(?:\.\d+)?(?:[eE][+-]?\d+)?", "", expr)  # numbers, 1e-9 included
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        name = match.group()
        followed_by_call = expr[match.end() :].lstrip().startswith("(")
        if not followed_by_call and name.lower() not in _PROMQL_WORDS and not re.fullmatch(r"\d+[smhdwy]", name):
            names.add(name)
    return names


def _alert_rules():
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


def _dashboard():
    return json.loads(DASHBOARD.read_text())


def _live_metric_names(client) -> set[str]:
    """Every series name /metrics can produce: sample names, and for each family the names of its samples."""
    response = client.get("/metrics")
    assert response.status_code == 200
    names = set()
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "summary": ("_sum", "_count", "_created"),
        "gauge": (),
    }
    for line in response.content.decode().splitlines():
        if line.startswith("# TYPE "):
            _, _, family, kind = line.split()[:4]
            base = family.removesuffix("_total") if kind == "counter" else family
            names |= {family, base} | {base + suffix for suffix in suffixes.get(kind, ())}
        elif line and not line.startswith("#"):
            names.add(re.match(r"[A-Za-z_:][A-Za-z0-9_:]*", line).group())
    return names


@needs_promtool
def test_the_alert_rules_pass_promtool():
    result = subprocess.run(["promtool", "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_the_prometheus_config_passes_promtool(tmp_path):
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    config["rule_files"] = [str(ALERTS)]  # the container mounts it at /etc/prometheus/alerts.yml
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))

    result = subprocess.run(
        ["promtool", "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_the_alert_rules_cover_money_dispatch_errors_and_ingest():
    by_name = {rule["alert"]: rule["expr"] for rule in _alert_rules()}

    assert "nebengjek_ledger_imbalance_idr" in by_name["LedgerImbalance"] and "!= 0" in by_name["LedgerImbalance"]
    assert "> 60" in by_name["SettlementBacklog"]
    assert "nebengjek_request_to_proposal_seconds_bucket" in by_name["RequestToProposalSlow"]
    assert "> 0.25" in by_name["RequestToProposalSlow"]
    assert next(r for r in _alert_rules() if r["alert"] == "RequestToProposalSlow")["for"] == "5m"
    assert 'status=~"5.."' in by_name["Http5xxRate"]
    assert "nebengjek_online_drivers" in by_name["NoLocationIngest"]


def test_every_metric_of_the_dashboard_and_the_alert_rules_is_on_the_live_metrics_page(client):
    live = _live_metric_names(client)
    exprs = [rule["expr"] for rule in _alert_rules()] + [
        target["expr"] for panel in _dashboard()["panels"] for target in panel["targets"]
    ]
    read = set().union(*(metric_names(expr) for expr in exprs))

    assert {
        "nebengjek_ledger_imbalance_idr",
        "nebengjek_celery_queue_depth",
        "django_http_responses_total_by_status_total",
    } <= read
    assert read - live == set()


def test_the_metric_name_reader_sees_through_promql():
    expr = (
        'histogram_quantile(0.99, sum by (le) (rate(a_seconds_bucket{status=~"5.."}[5m]))) > 0.25 '
        "and on() max(b_drivers) > 1e-9 or on() vector(0)"
    )

    assert metric_names(expr) == {"a_seconds_bucket", "b_drivers"}


def test_the_dashboard_panels_each_query_the_provisioned_prometheus():
    dashboard = _dashboard()
    datasources = yaml.safe_load((OBSERVABILITY / "grafana/provisioning/datasources/prometheus.yml").read_text())
    prometheus_uid = next(ds["uid"] for ds in datasources["datasources"] if ds["type"] == "prometheus")
    titles = " | ".join(panel["title"] for panel in dashboard["panels"]).lower()

    assert dashboard["uid"] and len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
    for panel in dashboard["panels"]:
        assert panel["targets"] and all(target["expr"].strip() for target in panel["targets"]), panel["title"]
        assert panel["datasource"]["uid"] == prometheus_uid, panel["title"]
    for topic in (
        "ingest",
        "ack latency",
        "request -> first proposal",
        "match rate",
        "sockets",
        "settlement lag",
        "ledger imbalance",
        "5xx",
        "503",
        "celery queue depth",
    ):
        assert topic in titles


def test_the_compose_observability_profile_wires_prometheus_grafana_the_collector_and_jaeger():
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    observability = {name for name, service in services.items() if "observability" in service.get("profiles", [])}
    prometheus_config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    collector = yaml.safe_load((OBSERVABILITY / "otel-collector/config.yml").read_text())
    provider = yaml.safe_load((OBSERVABILITY / "grafana/provisioning/dashboards/nebengjek.yml").read_text())

    assert observability == {"prometheus", "grafana", "otel-collector", "jaeger"}
    assert all("profiles" not in services[name] for name in ("web", "worker", "beat", "postgres", "redis"))
    mounts = {}
    for name in observability:
        for volume in services[name].get("volumes", []):
            source, target = volume.split(":")[:2]
            assert (ROOT / source).exists(), volume
            mounts[(name, target)] = source
    assert mounts[("prometheus", prometheus_config["rule_files"][0])].endswith("alerts.yml")
    assert mounts[("grafana", provider["providers"][0]["options"]["path"])].endswith("grafana/dashboards")
    assert all(
        target.split(":")[0] in services
        for job in prometheus_config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    )
    assert collector["exporters"]["otlp/jaeger"]["endpoint"].split(":")[0] in services
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in yaml.safe_load(COMPOSE.read_text())["x-app"]["environment"]
