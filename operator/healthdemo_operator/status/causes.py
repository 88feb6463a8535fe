"""Why each restart happened, from the best evidence there is. Pure.

Every restart gets its own history item, also when several happened while the operator was
away. What the item can say depends on what is left of it:

1. `Journal` — our webapp's own account (emptyDir + termination message, never rate-limited):
   "sigterm" is the kubelet's kill (the Pod lives on, so a probe killed it), "crash" a crash.
   Exact for every restart the journal still tells.
2. `Runtime` — the container runtime's `lastState.terminated`, for the newest restart only:
   `OOMKilled`, or an exit code.
   A RestartAllContainers rule leaves `RestartingAllContainers` there for every container: the
   kubelet removed each instance to restart them all in place.
3. `KillingEvent` — the kubelet's "failed liveness probe" Event, for a container that keeps no
   journal. The kubelet stops posting Events after about 25 per Pod and type, so once the Pod's
   budget may be spent, a missing Killing Event proves nothing: the cause is `Unknown`.

An item whose details are gone keeps its place (restart number, Pod) with `reason: Unknown`,
`time: null` and a `detail` saying why, so the count of items always equals the count of
restarts and a lower bound is visible as one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, get_args

from healthdemo_operator.journal import ContainerEnd, Journal
from healthdemo_operator.names import CONTAINER_NAME
from healthdemo_operator.observations import ContainerView, EventView, PodView, Termination
from healthdemo_operator.restart_rules import RESTART_ALL, RestartRule, first_match
from healthdemo_operator.status.ledger import ContainerEntry, PodEntry

Reason = Literal[
    "LivenessProbe",
    "StartupProbe",
    "RestartRule",
    "RestartAllContainers",
    "Resize",
    "Crash",
    "OOMKilled",
    "Exited",
    "Unknown",
]
Evidence = Literal["Journal", "Runtime", "KillingEvent", "None"]
REASONS: tuple[Reason, ...] = get_args(Reason)
KILL_SLACK = timedelta(seconds=2)  # a kill's Event and the container's own account of its end
RESIZED = "the kubelet restarted it to apply a resize (resizePolicy RestartContainer)"
RESTARTED_ALL = "the kubelet restarted every container of the Pod in place"
# A RestartAllContainers rule's exit to the kubelet's kill of the other containers: it notices
# the exit at its next relist (1 s), then kills with a 2 s grace period.
RESTART_ALL_WINDOW = timedelta(seconds=10)
# The kubelet's Event spam filter: a burst of 25 per Pod and Event type, then 1 per 5 minutes.
EVENT_BURST = 25


@dataclass(frozen=True)
class Verdict:
    reason: Reason
    evidence: Evidence
    detail: str | None = None


def liveness_kills(
    pod_uid: str, events: Sequence[EventView], container: str = CONTAINER_NAME
) -> int:
    """How many times the kubelet said it killed this container for its liveness probe."""
    return sum(
        e.count
        for e in events
        if e.pod_uid == pod_uid and e.about(container) and e.is_liveness_kill
    )


def resize_kills(pod_uid: str, events: Sequence[EventView], container: str) -> list[EventView]:
    """The kubelet's "resize requires restart" Killing Events about this container."""
    return [e for e in events if e.pod_uid == pod_uid and e.about(container) and e.is_resize_kill]


def pair_resize(
    pod_uid: str,
    events: Sequence[EventView],
    entry: ContainerEntry,
    container: str,
    ended: datetime | None,
) -> bool:
    """Pair the next unpaired resize kill with a restart of the container that `ended` then
    (None: not known); False if none is left, or none was posted when it ended."""
    kills = resize_kills(pod_uid, events, container)
    if sum(e.count for e in kills) <= entry.resizes:
        return False
    if ended is not None and not any(
        (e.first or e.last or ended) - KILL_SLACK <= ended <= (e.last or ended) + KILL_SLACK
        for e in kills
    ):
        return False
    entry.resizes += 1
    return True


def events_complete(entry: PodEntry) -> bool:
    """Whether the kubelet can still have posted every Normal Event (Killing is one) about it."""
    return entry.normal_events < EVENT_BURST - 1


def exited(code: int, rules: Sequence[RestartRule], evidence: Evidence) -> Verdict:
    """A container that exited on its own with `code`: restarted by the first rule that
    matched it, if one did (the kubelet checks them before any restartPolicy)."""
    rule = first_match(rules, code)
    if rule is not None and rule.action == RESTART_ALL:
        matched = f"exit code {code} matched {rule.describe()}: {RESTARTED_ALL}"
        return Verdict("RestartAllContainers", evidence, matched)
    if rule is not None:
        return Verdict("RestartRule", evidence, f"exit code {code} matched {rule.describe()}")
    return Verdict("Crash" if code != 0 else "Exited", evidence)


def from_runtime(termination: Termination, rules: Sequence[RestartRule] = ()) -> Verdict:
    if termination.reason == "OOMKilled":
        return Verdict("OOMKilled", "Runtime")
    return exited(termination.exit_code, rules, "Runtime")


def from_journal(
    end: ContainerEnd,
    runtime: Termination | None,
    *,
    startup: bool,
    rules: Sequence[RestartRule] = (),
) -> Verdict:
    """`startup`: the Pod has a startup probe, which alone probes a container still starting;
    `rules`: the container's restart rules."""
    if runtime is not None and runtime.reason == "OOMKilled":
        return Verdict("OOMKilled", "Runtime")
    if end.cause == "oom":
        return Verdict("OOMKilled", "Journal")
    if end.cause == "sigterm":
        return Verdict("StartupProbe" if startup and end.starting else "LivenessProbe", "Journal")
    if end.cause == "crash":
        code = end.exit_code if end.exit_code is not None else 1
        return exited(code, rules, "Journal")
    if runtime is not None:  # it ended without a word: the runtime knows how
        return from_runtime(runtime, rules)
    return Verdict(
        "Unknown", "Journal", "the container ended without a word (killed by the kernel?)"
    )


def _all_rules(view: ContainerView) -> str:
    return " or ".join(r.describe() for r in view.restart_rules if r.action == RESTART_ALL)


def restarted_all(pod: PodView, view: ContainerView) -> Verdict:
    """A restart the kubelet made for a RestartAllContainers rule, from the Pod status alone:
    it keeps only `RestartingAllContainers` of every instance it removed, not who exited how."""
    sources = [v for v in pod.containers() if _all_rules(v)]
    if any(v.name == view.name for v in sources):
        detail = (
            f"it exited with a code that matched {_all_rules(view)}: {RESTARTED_ALL} (and "
            "removed this instance: its exit code is not kept)"
        )
    elif sources:
        detail = (
            f"{sources[0].name} exited with a code that matched {_all_rules(sources[0])}: "
            f"{RESTARTED_ALL}"
        )
    else:
        detail = f"a container's RestartAllContainers rule matched its exit: {RESTARTED_ALL}"
    return Verdict("RestartAllContainers", "Runtime", detail)


def killed_for_all(pod: PodView, view: ContainerView, at: datetime | None) -> Verdict | None:
    """A kill (the container's journal says SIGTERM) just after another container's exit
    matched its RestartAllContainers rule: the kubelet killed it to restart them all."""
    if at is None:
        return None
    for other in pod.containers():
        if other.name == view.name or other.journal is None:
            continue
        for end in other.journal.ends.values():
            if end.cause != "crash" or end.at is None or end.exit_code is None:
                continue
            rule = first_match(other.restart_rules, end.exit_code)
            if rule is None or rule.action != RESTART_ALL:
                continue
            if end.at - KILL_SLACK <= at <= end.at + RESTART_ALL_WINDOW:
                return Verdict(
                    "RestartAllContainers",
                    "Journal",
                    f"{other.name} exited with code {end.exit_code}, which matched "
                    f"{rule.describe()}: {RESTARTED_ALL}",
                )
    return None


def judge(
    pod: PodView,
    view: ContainerView,
    entry: PodEntry,
    index: int,
    events: Sequence[EventView],
) -> Verdict:
    """The cause of restart number `index + 1` of container `view` of `pod` (its instance
    `index` ended).

    May pair a Killing Event with it (the container's `kills`): call in restart order.
    """
    container = entry.container(view.name)
    newest = index == view.restart_count - 1
    runtime = view.last_termination if newest else None
    if runtime is not None and runtime.restarted_all:
        return restarted_all(pod, view)
    journal: Journal | None = view.journal
    if journal is not None:
        end = journal.ends.get(index)
        killed = killed_for_all(pod, view, end.at) if end and end.cause == "sigterm" else None
        if killed is not None:
            return killed
        if (
            end is not None
            and end.cause == "sigterm"
            and pair_resize(pod.uid, events, container, view.name, end.at)
        ):
            return Verdict("Resize", "KillingEvent", RESIZED)
        if end is not None:
            return from_journal(
                end, runtime, startup=view.startup_threshold is not None, rules=view.restart_rules
            )
        if runtime is not None:
            return from_runtime(runtime, view.restart_rules)
        if index < journal.oldest:
            return Verdict(
                "Unknown", "None", "more restarts than the webapp's journal keeps happened unseen"
            )
        return Verdict("Unknown", "None", "the webapp's journal does not tell this restart")
    if pair_resize(pod.uid, events, container, view.name, runtime.finished_at if runtime else None):
        return Verdict("Resize", "KillingEvent", RESIZED)
    if liveness_kills(pod.uid, events, view.name) > container.kills:
        container.kills += 1
        return Verdict("LivenessProbe", "KillingEvent")
    if runtime is not None and runtime.reason == "OOMKilled":
        return Verdict("OOMKilled", "Runtime")
    if not events_complete(entry):
        return Verdict(
            "Unknown",
            "None",
            "the container keeps no journal and the kubelet stopped posting Events about the "
            "Pod (at most about 25): a liveness kill would not show",
        )
    if runtime is not None:
        return from_runtime(runtime, view.restart_rules)
    return Verdict(
        "Unknown", "None", "not a liveness kill; the kubelet keeps only the newest restart's end"
    )
