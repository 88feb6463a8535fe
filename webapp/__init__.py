"""The HealthDemo webapp: a Flask app whose health can be broken on purpose.

Every endpoint teaches one probe behaviour (see README "Webapp API"). State lives in this process
only, so a container restart heals it — that is the point of the demo.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from webapp import config, errors, faults, info, metrics, probes
from webapp.journal import Journal
from webapp.state import HealthState

__version__ = "0.1.0"


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Flask app factory: defaults, then the environment, then explicit overrides (tests)."""
    app = Flask(__name__)
    app.config.update(config.DEFAULTS)
    app.config.update(config.from_environ())
    if overrides:
        app.config.update(overrides)
    app.config["VERSION"] = __version__
    app.extensions["health_state"] = HealthState()
    app.extensions["journal"] = Journal(*config.journal_paths(app.config))
    errors.register(app)
    metrics.register(app)
    app.register_blueprint(info.bp)
    app.register_blueprint(probes.bp)
    app.register_blueprint(faults.bp)
    return app
