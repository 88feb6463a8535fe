"""Configuration from the environment: typed, validated, with the variable named on error."""

from __future__ import annotations

import pytest

from webapp import config
from webapp.app import create_app


def test_environment_overrides_defaults() -> None:
    found = config.from_environ({"WEBAPP_NAME": "demo", "WEBAPP_MAX_FAIL_NEXT": "5"})
    assert found == {"APP_NAME": "demo", "MAX_FAIL_NEXT": 5}


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"WEBAPP_MAX_FAIL_NEXT": "many"}, "WEBAPP_MAX_FAIL_NEXT='many' is not a valid int"),
        ({"WEBAPP_FAULTS": "maybe"}, "expected one of enabled, token, disabled"),
        ({"WEBAPP_FAULTS": "token"}, "needs WEBAPP_FAULTS_TOKEN"),
    ],
)
def test_bad_environment_is_refused_with_the_variable_named(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        config.from_environ(environ)


def test_create_app_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBAPP_NAME", "from-env")
    assert create_app().test_client().get("/").get_json()["app"] == "from-env"
