"""The alert rules and the dashboard read metrics the server really exports; the rules pass
``promtool check rules`` and their unit tests (``promtool test rules``)."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from tests.deploy.metric_names import exported_series, named_metrics
from tests.deploy.tools import DEPLOY, load_yaml, require

PROMETHEUS = DEPLOY / "prometheus"
RULES = PROMETHEUS / "aybiza-alerts.yml"
RULE_TESTS = PROMETHEUS / "aybiza-alerts.test.yml"
DASHBOARD = DEPLOY / "grafana" / "aybiza-dashboard.json"
PROMTOOL_INSTALL = "apt-get install -y prometheus"


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = require("promtool", PROMTOOL_INSTALL)
    return subprocess.run(
        [promtool, *args], cwd=PROMETHEUS, capture_output=True, text=True, check=False
    )


def test_the_alert_rules_pass_promtool_check() -> None:
    done = _promtool("check", "rules", RULES.name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_the_alert_rules_pass_their_unit_tests() -> None:
    done = _promtool("test", "rules", RULE_TESTS.name)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_alerts_cover_errors_latency_region_health_and_capacity() -> None:
    groups = load_yaml(RULES)["groups"]
    alerts = {rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule}
    assert {
        "AybizaCallErrorRateHigh",
        "AybizaVoiceToVoiceP95High",
        "AybizaRegionDown",
        "AybizaRegionNearCapacity",
    } <= alerts
    exported = exported_series()
    for group in groups:
        for rule in group["rules"]:
            unknown = named_metrics(rule["expr"]) - exported
            assert not unknown, f"{rule.get('alert') or rule.get('record')} reads {unknown}"


def _queries(node: Any) -> list[str]:
    """Every PromQL query of a dashboard: panel targets and templating queries."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if (key == "expr" and isinstance(value, str)) or (
                key == "definition" and isinstance(value, str)
            ):
                found.append(value)
            else:
                found.extend(_queries(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_queries(item))
    return found


def test_every_dashboard_query_names_a_metric_the_server_exports() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    exported = exported_series()
    for panel in panels:
        queries = _queries(panel["targets"])
        assert queries, f"panel {panel['title']!r} has no query"
        for query in queries:
            named = named_metrics(query)
            assert named, f"panel {panel['title']!r}: {query} names no metric"
            assert named <= exported, f"panel {panel['title']!r} reads {named - exported}"
    for query in _queries(dashboard["templating"]):
        assert named_metrics(query) <= exported and named_metrics(query), query
