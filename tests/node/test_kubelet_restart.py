"""The real kubelet and containerd restarted in the middle of a failure episode. A kubelet
restart starts its probe counters again from zero (a new process start time on the same page
tells the operator so): the failures it counted after the operator's last read are gone from
them. Here the kubelet's Events, still within their budget, tell those, so the status equals the
truth; it cannot know that, and says its count may be a lower bound, for good
(`KubeletCountersReset`). A containerd restart loses nothing. The truth, throughout: the
kubelet's own counters read as admin (before its restart, and after), the Pod status."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import pytest
from healthdemo_sandbox.localoperator import LocalOperator

from ..conftest import eventually
from .conftest import Cluster
from .exact_counts import StatusTrail, Webapp, kubelet_failures
from .test_exact_counts import condition, start

pytestmark = pytest.mark.node


def until(app: Webapp, check: Any, what: str) -> dict[str, Any]:
    last: list[dict[str, Any]] = [{}]

    def read() -> dict[str, Any] | None:
        last[0] = app.status()
        return last[0] if check(last[0]) else None

    try:
        found: dict[str, Any] = eventually(read, timeout=45, what=what)
    except AssertionError as exc:
        shown = {
            k: last[0].get(k) for k in ("probeFailures", "restarts", "conditions", "accounting")
        }
        raise AssertionError(f"{exc}; the status: {shown}") from None
    return found


def test_kubelet_and_containerd_restarts_mid_episode(
    local_operator: LocalOperator, deployed: Cluster, namespace: str
) -> None:
    app = start(deployed, namespace, "restarted-node")
    uid = app.pod()["metadata"]["uid"]

    def kubelet_count() -> int:
        return kubelet_failures(deployed, uid, "Liveness")

    with StatusTrail(app) as trail:
        app.fail_below_the_threshold()
        read = kubelet_count()
        until(app, lambda s: s.get("probeFailures") == read, f"{read}: the operator read them")

        # Mid-episode, with the operator unable to read (stopped, not killed): two more failures
        # the kubelet counts, then its restart. Those two are what a restart can lose.
        assert local_operator.proc is not None
        os.kill(local_operator.proc.pid, signal.SIGSTOP)
        try:
            app.fail_below_the_threshold()
            unread = kubelet_count() - read
            assert unread >= 2
            seconds = deployed.node.restart_kubelet()
        finally:
            os.kill(local_operator.proc.pid, signal.SIGCONT)
        print(f"\nkubelet restarted in {seconds:.1f} s; {unread} failures unread", file=sys.stderr)

        def truth() -> int:
            """The kubelet's count before its restart, and since."""
            return read + unread + kubelet_count()

        # Counting on from the new counters, the unread ones from the Events; a lower bound said.
        app.fail_below_the_threshold()
        after = until(
            app,
            lambda s: (
                s.get("probeFailures") == truth()
                and condition(s, "CountsComplete").get("reason") == "KubeletCountersReset"
            ),
            "the old count, the unread ones and the restarted kubelet's; the reset seen",
        )
        counts = condition(after, "CountsComplete")
        assert (counts["status"], counts["reason"]) == ("False", "KubeletCountersReset"), counts
        assert deployed.node.name in counts["message"] and app.pod_name in counts["message"]

        # A liveness restart after it: recorded, exactly, with its cause.
        app.fail_until_restarted()
        restarted = until(
            app,
            lambda s: s.get("restarts") == 1 and s.get("probeFailures") == truth(),
            "the restart after the kubelet's",
        )
        assert [h["reason"] for h in restarted["history"]] == ["LivenessProbe"]

        # containerd restarted mid-episode: nothing lost, nothing counted twice.
        took: list[float] = []
        app.fail_below_the_threshold(lambda: took.append(deployed.node.restart_containerd()))
        seconds = took[0]
        settled = until(
            app,
            lambda s: s.get("probeFailures") == truth() and s.get("restarts") == 1,
            "exact after containerd's restart",
        )
        assert app.restarts() == 1, "containerd's restart restarted the container"
        print(
            f"containerd restarted in {seconds:.1f} s: {settled['probeFailures']}", file=sys.stderr
        )
    trail.never_rewritten()
