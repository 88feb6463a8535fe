"""The Flask app factory: config from defaults, the environment, then explicit overrides."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from webapp import __version__, config, errors, faults, info, metrics, page, probes, work
from webapp.journal import Journal
from webapp.recent import RecentCalls
from webapp.state import HealthState


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Flask app factory: defaults, then the environment, then explicit overrides (tests)."""
    app = Flask("webapp", static_folder=None)  # the page blueprint serves its own files
    app.config.update(config.DEFAULTS)
    app.config.update(config.from_environ())
    if overrides:
        app.config.update(overrides)
    app.config["VERSION"] = __version__
    app.extensions["health_state"] = HealthState(app.config["STARTUP_DELAY_SECONDS"])
    app.extensions["journal"] = Journal(*config.journal_paths(app.config))
    app.extensions["recent_probes"] = RecentCalls(app.config["RECENT_PROBES"])
    errors.register(app)
    metrics.register(app)
    app.register_blueprint(info.bp)
    app.register_blueprint(probes.bp)
    app.register_blueprint(faults.bp)
    app.register_blueprint(page.bp)
    work.register(app)
    return app
