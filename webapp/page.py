"""The page a browser gets at GET /: the same state as the JSON, live, with a button per fault.

No build step and nothing from the network: one template and the files in webapp/static, served
by the app itself (a cluster in a lab may have no internet, and a demo must not need a CDN). The
script polls the JSON endpoints, so everything it shows, a client without a browser sees too.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, render_template, request

from webapp.csp import CSP

bp = Blueprint(
    "page", __name__, static_folder="static", static_url_path="/page", template_folder="templates"
)


def wanted() -> bool:
    """A browser prefers HTML; curl (*/*), scripts and no Accept at all get the JSON."""
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html"


def render() -> Response:
    response = Response(
        render_template(
            "page.html",
            app_name=current_app.config["APP_NAME"],
            version=current_app.config["VERSION"],
        ),
        content_type="text/html; charset=utf-8",
    )
    response.headers["Content-Security-Policy"] = CSP
    return response
