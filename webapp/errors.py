"""JSON errors: every 4xx/5xx the app produces is JSON with a message a user can act on."""

from __future__ import annotations

import math

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import BadRequest, HTTPException


def _as_json(exc: HTTPException) -> Response:
    response = exc.get_response()  # keeps headers such as Allow on a 405
    body: dict[str, object] = {"error": exc.name, "message": exc.description, "status": exc.code}
    if exc.code == 405:
        body["allowed"] = sorted(m for m in response.headers.get("Allow", "").split(", ") if m)
        body["message"] = f"{request.method} is not allowed on {request.path}"
    json_response = jsonify(body)
    json_response.status_code = exc.code or 500
    for name, value in response.headers.items():
        if name.lower() not in ("content-type", "content-length"):
            json_response.headers[name] = value
    return json_response


def register(app: Flask) -> None:
    app.register_error_handler(HTTPException, _as_json)


def int_arg(name: str, *, low: int, high: int) -> int:
    """A required integer query/form argument within [low, high], or a 400 that says so."""
    raw = request.values.get(name)
    if raw is None or raw == "":
        raise BadRequest(f"'{name}' is required: an integer from {low} to {high}")
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"'{name}' must be an integer from {low} to {high}, got {raw!r}") from None
    if not low <= value <= high:
        raise BadRequest(f"'{name}' must be from {low} to {high}, got {value}")
    return value


def float_arg(name: str, *, low: float, high: float) -> float:
    """A required number query/form argument within [low, high], or a 400 that says so."""
    raw = request.values.get(name)
    if raw is None or raw == "":
        raise BadRequest(f"'{name}' is required: a number from {low:g} to {high:g}")
    try:
        value = float(raw)
    except ValueError:
        raise BadRequest(
            f"'{name}' must be a number from {low:g} to {high:g}, got {raw!r}"
        ) from None
    if not math.isfinite(value) or not low <= value <= high:
        raise BadRequest(f"'{name}' must be from {low:g} to {high:g}, got {raw}")
    return value
