"""What one recording pass produces: the status to write, its ledger, the Events to post."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from healthdemo_operator.status.ledger import Ledger


@dataclass(frozen=True)
class Notice:
    """A Kubernetes Event to post on the HealthDemo."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass(frozen=True)
class Recording:
    status: dict[str, Any]  # as written to the API server (the typed Status, dumped)
    ledger: Ledger  # the typed view of status.accounting
    notices: list[Notice] = field(default_factory=list)
    recheck_after: float | None = None  # seconds until the phase can change with no new signal
