"""The operator's settings: read once from the environment, each bad value one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from healthdemo_operator.settings import SettingError, Settings
from healthdemo_sandbox.paths import ROOT


def test_defaults_when_nothing_is_set() -> None:
    assert Settings.from_env({}) == Settings(
        metrics_port=9090, kubelet_poll_seconds=5.0, kubelet_tls_verify=True, peering_lifetime=30
    )


def test_each_variable_sets_its_value() -> None:
    settings = Settings.from_env(
        {
            "HEALTHDEMO_METRICS_PORT": " 0 ",
            "HEALTHDEMO_KUBELET_POLL_SECONDS": "0.5",
            "HEALTHDEMO_KUBELET_INSECURE_TLS": "True",
            "HEALTHDEMO_PEERING_LIFETIME": "8",
        }
    )
    assert settings == Settings(0, 0.5, False, 8)
    assert Settings.from_env({"HEALTHDEMO_KUBELET_INSECURE_TLS": "no"}).kubelet_tls_verify


@pytest.mark.parametrize(
    ("name", "value", "hint"),
    [
        ("HEALTHDEMO_METRICS_PORT", "nine", "give a port number (0 serves no metrics)"),
        ("HEALTHDEMO_METRICS_PORT", "-1", "give a port number"),
        ("HEALTHDEMO_METRICS_PORT", "70000", "give a port number"),
        ("HEALTHDEMO_KUBELET_POLL_SECONDS", "fast", "give seconds, 0.1 to 3600"),
        ("HEALTHDEMO_KUBELET_POLL_SECONDS", "0", "give seconds, 0.1 to 3600"),
        ("HEALTHDEMO_KUBELET_INSECURE_TLS", "maybe", "give true or false"),
        ("HEALTHDEMO_PEERING_LIFETIME", "0", "give whole seconds, 1 to 3600"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(name: str, value: str, hint: str) -> None:
    with pytest.raises(SettingError) as raised:
        Settings.from_env({name: value})
    message = str(raised.value)
    assert message.startswith(f"{name}={value!r}: ") and hint in message
    assert "\n" not in message


def test_kopf_run_with_a_bad_setting_stops_at_once_with_that_line(tmp_path: Path) -> None:
    """What a user sees: no traceback, no retries, exit code 2 before Kopf connects anywhere."""
    result = subprocess.run(
        [sys.executable, "-m", "kopf", "run", str(ROOT / "operator" / "main.py"), "-A"],
        env={**os.environ, "HEALTHDEMO_KUBELET_INSECURE_TLS": "maybe",
             "KUBECONFIG": str(tmp_path / "none")},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr == (
        "healthdemo-operator: HEALTHDEMO_KUBELET_INSECURE_TLS='maybe': give true or false\n"
    )
