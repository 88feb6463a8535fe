"""deploy/prometheus/ with Debian's promtool, no cluster: the alert rules are valid, each alert
fires when it should and not otherwise (healthdemo-alerts.test.yaml), every PromQL expression the
metrics docs tell users to run parses, and every metric the docs and the rules name is one the
operator serves. Without promtool: skipped, or failed where CI requires the node's tools."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from healthdemo_operator.healthdemo import HealthDemo
from healthdemo_operator.metrics import OperatorMetrics
from prometheus_client import generate_latest

from ..conftest import REQUIRE_NODE, ROOT, Scraped, unavailable

RULES = ROOT / "deploy" / "prometheus" / "healthdemo-alerts.yaml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "healthdemo-alerts.test.yaml"
PROMQL_BLOCK = re.compile(r"^```promql\n(.*?)^```", re.MULTILINE | re.DOTALL)
METRIC_NAME = re.compile(r"(?<![\w:])healthdemo_\w+")  # not the `healthdemo` label


def metrics_docs() -> Path:
    """Where the metrics docs live: docs/metrics.md, or the README's section before the move."""
    moved = ROOT / "docs" / "metrics.md"
    return moved if moved.exists() else ROOT / "README.md"


def docs_expressions(text: str) -> list[tuple[int, str]]:
    """(line number, expression) for each line of each ```promql block that is not a comment
    or blank: the docs give one expression per line."""
    found: list[tuple[int, str]] = []
    for block in PROMQL_BLOCK.finditer(text):
        first = text.count("\n", 0, block.start(1)) + 1
        for offset, line in enumerate(block.group(1).splitlines()):
            if line.strip() and not line.lstrip().startswith("#"):
                found.append((first + offset, line.strip()))
    return found


def rules() -> list[dict[str, Any]]:
    loaded = yaml.safe_load(RULES.read_text())
    return [rule for group in loaded["groups"] for rule in group["rules"]]


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        unavailable(
            "no promtool: Debian's prometheus package has it (sandbox/setup-host.sh installs it)",
            REQUIRE_NODE,
        )
    return found


def run(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, *args], capture_output=True, text=True, timeout=120, check=False
    )


def check_rules(promtool: str, path: Path) -> subprocess.CompletedProcess[str]:
    return run(promtool, "check", "rules", str(path))


def test_the_alert_rules_are_valid(promtool: str) -> None:
    checked = check_rules(promtool, RULES)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(rules())} rules found" in checked.stdout


def test_each_alert_fires_when_it_should_and_not_otherwise(promtool: str) -> None:
    tested = run(promtool, "test", "rules", str(RULE_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_every_alert_has_a_case_that_fires_and_one_that_does_not() -> None:
    fires: set[str] = set()
    quiet: set[str] = set()
    for group in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for case in group.get("alert_rule_test", []):
            (fires if case.get("exp_alerts") else quiet).add(case["alertname"])
    alerts = {rule["alert"] for rule in rules() if "alert" in rule}
    assert alerts, f"no alerts in {RULES}"
    assert alerts <= fires, f"never shown firing: {sorted(alerts - fires)}"
    assert alerts <= quiet, f"never shown quiet: {sorted(alerts - quiet)}"
    assert str(RULES.name) in yaml.safe_load(RULE_TESTS.read_text())["rule_files"]


def test_the_docs_promql_parses(promtool: str, tmp_path: Path) -> None:
    """Each expression as a recording rule of a throw-away rules file: `promtool check rules`
    parses it (and names the line of one that does not parse) without a server."""
    docs = metrics_docs()
    expressions = docs_expressions(docs.read_text())
    assert len(expressions) >= 5, f"no ```promql block with expressions in {docs}"
    generated = tmp_path / "docs-promql.yaml"
    generated.write_text(
        yaml.safe_dump(
            {
                "groups": [
                    {
                        "name": docs.name,
                        "rules": [
                            {"record": f"healthdemo_docs:line_{line}", "expr": expr}
                            for line, expr in expressions
                        ],
                    }
                ]
            }
        )
    )
    checked = check_rules(promtool, generated)
    assert checked.returncode == 0, (
        f"{docs}: a ```promql expression does not parse (line_N: its line):\n"
        + checked.stdout
        + checked.stderr
    )
    assert f"SUCCESS: {len(expressions)} rules found" in checked.stdout


def test_a_broken_expression_fails_the_parse_check(promtool: str, tmp_path: Path) -> None:
    """The check above is no formality: one missing parenthesis is found, and its line named."""
    text = "```promql\n# a comment\nsum by (reason) (increase(healthdemo_restarts_total[1h])\n```\n"
    ((line, expr),) = docs_expressions(text)
    assert line == 3
    generated = tmp_path / "broken.yaml"
    generated.write_text(
        yaml.safe_dump(
            {"groups": [{"name": "x", "rules": [{"record": f"x:line_{line}", "expr": expr}]}]}
        )
    )
    checked = check_rules(promtool, generated)
    assert checked.returncode != 0
    assert "x:line_3" in checked.stdout + checked.stderr


def served_names() -> set[str]:
    """Every sample name one scrape shows, for a HealthDemo with traffic and a restart."""
    status = {
        "restartReasons": {"LivenessProbe": 1},
        "recovery": {"count": 1, "sumSeconds": 3.0, "buckets": {}},
        "traffic": {"answers": {"ok": 5}, "lostIn": {"Restart": 1}},
    }
    body = {"metadata": {"name": "demo", "namespace": "shop", "uid": "u"}, "status": status}
    taken = OperatorMetrics().scrape([HealthDemo.of(body)], queue_depth=0, reconcile_errors=0)
    return {name for name, _ in Scraped.parse(generate_latest(taken).decode()).samples}


def test_every_metric_the_docs_and_the_rules_name_is_served() -> None:
    docs = metrics_docs()
    named: dict[str, set[str]] = {
        docs.name: {n for _, expr in docs_expressions(docs.read_text()) for n in names(expr)},
        RULES.name: {n for rule in rules() for n in names(rule["expr"])},
        RULE_TESTS.name: {
            n
            for group in yaml.safe_load(RULE_TESTS.read_text())["tests"]
            for series in group["input_series"]
            for n in names(series["series"])
        },
    }
    assert all(named.values()), named
    served = served_names()
    unknown = {source: sorted(found - served) for source, found in named.items() if found - served}
    assert not unknown, f"not served by the operator: {unknown}"


def names(promql: str) -> set[str]:
    return set(METRIC_NAME.findall(promql))
