"""A container's restart rules and the kubelet's decision on an exit. Pure.

Kubernetes' container restart rules (feature ContainerRestartRules, beta since 1.35) are checked
in order when a container exits: the first rule whose exit codes match decides; without a match,
the container's own restartPolicy (else the Pod's) does. The operator needs the same decision
twice: to attribute a restart to the rule that caused it, and to say why a Pod ended.
A rule's action `RestartAllContainers` (KEP-5532, beta and on by default since 1.36) restarts
every container of the Pod in place instead of the one that exited.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

RESTART = "Restart"
RESTART_ALL = "RestartAllContainers"
# The feature gate each action needs on the API server and the kubelet.
GATES = {RESTART: "ContainerRestartRules", RESTART_ALL: "RestartAllContainersOnContainerExits"}


@dataclass(frozen=True, slots=True)
class RestartRule:
    index: int  # its place in restartPolicyRules: the first match wins
    action: str  # RESTART | RESTART_ALL
    operator: str  # "In" | "NotIn"
    values: tuple[int, ...]

    def matches(self, exit_code: int) -> bool:
        return (exit_code in self.values) == (self.operator == "In")

    def describe(self) -> str:
        codes = ", ".join(str(v) for v in self.values)
        return (
            f"restartPolicyRules[{self.index}]: {self.action} when the exit code is "
            f"{'in' if self.operator == 'In' else 'not in'} [{codes}]"
        )


def rules_of(raw: Sequence[Mapping[str, Any]] | None) -> tuple[RestartRule, ...]:
    """The rules of a container as the API gives them (`restartPolicyRules`)."""
    rules = []
    for index, rule in enumerate(raw or ()):
        codes = rule.get("exitCodes") or {}
        rules.append(
            RestartRule(
                index=index,
                action=str(rule.get("action") or ""),
                operator=str(codes.get("operator") or "In"),
                values=tuple(int(v) for v in codes.get("values") or ()),
            )
        )
    return tuple(rules)


def first_match(rules: Sequence[RestartRule], exit_code: int) -> RestartRule | None:
    return next((rule for rule in rules if rule.matches(exit_code)), None)


def restarted(policy: str, rules: Sequence[RestartRule], exit_code: int) -> bool:
    """Whether the kubelet restarts a container that exited with `exit_code`: `policy` is the
    container's restartPolicy where it has one, else the Pod's."""
    rule = first_match(rules, exit_code)
    if rule is not None:
        return rule.action in (RESTART, RESTART_ALL)
    return policy == "Always" or (policy == "OnFailure" and exit_code != 0)


def restarts_all(rules: Sequence[RestartRule]) -> bool:
    """Whether an exit of the container can restart every container of its Pod."""
    return any(rule.action == RESTART_ALL for rule in rules)
