"""GET / for a browser: the page, its own files and nothing from the network; JSON for the rest.

What the page does in a real browser is tests/webapp/test_page_browser.py; this is its contract.
"""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from webapp.app import create_app

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"


@pytest.fixture
def app() -> Flask:
    return create_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def page(client: FlaskClient) -> str:
    response = client.get("/", headers={"Accept": BROWSER})
    assert response.status_code == 200
    assert response.content_type == "text/html; charset=utf-8"
    return response.get_data(as_text=True)


def test_a_browser_gets_the_page(client: FlaskClient) -> None:
    response = client.get("/", headers={"Accept": BROWSER})
    assert response.content_type == "text/html; charset=utf-8"
    assert "<title>flask-webapp — HealthDemo</title>" in response.get_data(as_text=True)
    assert "Accept" in response.vary
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    "accept", [None, "*/*", "application/json", "application/json, text/html", "text/*;q=0.5, */*"]
)
def test_everyone_else_gets_the_json(client: FlaskClient, accept: str | None) -> None:
    headers = {"Accept": accept} if accept is not None else {}
    response = client.get("/", headers=headers)
    assert response.content_type == "application/json"
    assert response.get_json()["app"] == "flask-webapp"
    assert "Accept" in response.vary


def test_the_json_keeps_its_keys(client: FlaskClient) -> None:
    """The page must not change what scripts already read."""
    assert set(client.get("/").get_json()) == {
        "app",
        "version",
        "hostname",
        "pid",
        "startedAt",
        "uptimeSeconds",
        "faults",
        "startup",
        "liveness",
        "readiness",
        "counters",
        "pod",
    }


def test_the_page_loads_only_the_apps_own_files(client: FlaskClient) -> None:
    html = page(client)
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sorted(a.split("?")[0] for a in assets) == ["/page/page.css", "/page/page.js", "data:,"]
    for path, kind in (("/page/page.css", "text/css"), ("/page/page.js", "text/javascript")):
        response = client.get(path)
        assert response.status_code == 200
        assert response.content_type.startswith(kind)
        assert "http:" not in response.get_data(as_text=True)
        assert "https:" not in response.get_data(as_text=True)
    assert "http:" not in html
    assert "https:" not in html


def test_there_is_a_button_for_every_fault(app: Flask, client: FlaskClient) -> None:
    buttons = set(re.findall(r'data-fault="([^"]+)"', page(client)))
    faults = {rule.rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("faults.")}
    assert buttons == faults
