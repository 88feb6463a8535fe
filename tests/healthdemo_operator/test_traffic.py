"""spec.traffic without a server: the client's Pod (never one the Service selects or the status
counts as a replica), and its running tally kept exact in status.traffic across readings, its
own restarts, a new client Pod and an operator restart."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from healthdemo_operator import podspec
from healthdemo_operator.caches import PODS, TRAFFIC_PODS, our_client, our_pod
from healthdemo_operator.healthdemo import HealthDemo
from healthdemo_operator.observations import pod_view
from healthdemo_operator.status.record import record
from healthdemo_operator.status.status import Restart, Status
from healthdemo_operator.traffic import pod as trafficpod
from healthdemo_operator.traffic.tally import Reading, lost_between

from .kubelet_data import pod
from .test_podspec import healthdemo

SPEC = {"traffic": {"ratePerSecond": 5}}
NOW = datetime(2026, 11, 30, 10, 1, tzinfo=UTC)


def demo() -> HealthDemo:
    return HealthDemo.of(healthdemo(SPEC))


def test_the_client_pod_talks_to_its_own_service_and_is_no_replica() -> None:
    client = trafficpod.build(demo(), "10.96.0.12")
    assert client["metadata"]["name"] == "demo-traffic"
    labels = client["metadata"]["labels"]
    service = podspec.build_service(demo())
    assert not service["spec"]["selector"].items() <= labels.items()  # never gets /work
    assert labels["demo.example.com/traffic-for"] == "uid-1"
    (container,) = client["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["TRAFFIC_TARGET"] == "http://10.96.0.12:80/work"
    assert (env["TRAFFIC_RATE"], env["TRAFFIC_TIMEOUT_SECONDS"]) == ("5", "1")
    assert container["command"] == ["python", "-m", "webapp.traffic"]
    assert client["spec"]["securityContext"]["runAsNonRoot"] is True
    # The informers: the webapp Pods' selector leaves it out, the clients' takes it.
    assert "!demo.example.com/traffic-for" in PODS.selectors["labelSelector"]
    assert TRAFFIC_PODS.selectors["labelSelector"].endswith(",demo.example.com/traffic-for")
    client["metadata"]["uid"] = "client-1"
    view = our_client(client)
    assert view is not None and view.owner_uid == "uid-1" and view.running is False
    assert our_pod(client) is not None  # what PODS' selector keeps out of the webapp Pods
    # Another rate: another Pod (its digest differs).
    faster = trafficpod.build(HealthDemo.of(healthdemo({"traffic": {"ratePerSecond": 9}})), "x")
    slower = trafficpod.build(demo(), "x")
    digest = "demo.example.com/digest"
    assert faster["metadata"]["annotations"][digest] != slower["metadata"]["annotations"][digest]


def counts(sent: int, ok: int, refused: int = 0, by_pod: dict[str, int] | None = None) -> Any:
    return {"sent": sent, "answers": {"ok": ok, "refused": refused},
            "byPod": by_pod or {"demo-webapp": ok}}  # fmt: skip


def run(previous: dict[str, Any] | None, reading: Reading | None) -> dict[str, Any]:
    return record(
        previous=previous or {},
        spec=podspec.effective(SPEC),
        generation=1,
        pod_name="demo-webapp",
        pods=[pod_view(pod())],
        events=[],
        traffic=reading,
        problem=None,
        now=NOW,
    ).status


def test_each_reading_adds_only_what_is_new() -> None:
    first = run(None, Reading("client-1", "demo-traffic", counts(10, 10)))
    traffic = first["traffic"]
    assert (traffic["sent"], traffic["lost"], traffic["ratePerSecond"]) == (10, 0, 5.0)
    second = run(first, Reading("client-1", "demo-traffic", counts(25, 20, 5)))
    assert second["traffic"]["sent"] == 25
    assert second["traffic"]["answers"] == {"ok": 20, "5xx": 0, "refused": 5, "reset": 0,
                                            "timeout": 0, "other": 0}  # fmt: skip
    assert second["traffic"]["lost"] == 5
    # The same reading again (an operator restart reads it again): nothing twice.
    assert (
        run(second, Reading("client-1", "demo-traffic", counts(25, 20, 5)))["traffic"]
        == (second["traffic"])
    )
    # A new client Pod counts from its own zero, on top.
    third = run(second, Reading("client-2", "demo-traffic", counts(4, 4)))
    assert (third["traffic"]["sent"], third["traffic"]["byPod"]) == (29, {"demo-webapp": 24})
    # Unreadable: the totals stay, the error is said.
    down = run(third, Reading("client-2", "demo-traffic", None, "GET ...: refused"))
    assert down["traffic"]["sent"] == 29 and down["traffic"]["error"] == "GET ...: refused"
    conditions = {c["type"]: c for c in down["conditions"]}
    assert conditions["CountsComplete"]["status"] == "True"


def test_a_tally_that_went_backwards_is_counted_again_and_said() -> None:
    first = run(None, Reading("client-1", "demo-traffic", counts(30, 30)))
    again = run(first, Reading("client-1", "demo-traffic", counts(3, 3)))
    assert again["traffic"]["sent"] == 33
    counted = {c["type"]: c for c in again["conditions"]}["CountsComplete"]
    assert counted["status"] == "False"
    assert "started its tally over (30 → 3 sent)" in counted["message"]


def window(start: float, end: float, closed: float | None, **counts: int) -> dict[str, Any]:
    return {"start": start, "end": end, "counts": counts, "closedAt": closed}


def test_the_requests_an_episode_cost_are_its_windows() -> None:
    windows = [
        window(150, 151, 151.5, refused=2),  # long before: another story
        window(200, 203, 203.4, **{"5xx": 6}),  # failing, then killed
        window(203.5, 206, 206.2, refused=5, reset=1),  # restarting
    ]
    counts: dict[str, Any] = {"started": 100.0, "windows": windows}
    assert lost_between(counts, began=200.2, recovered=206.0) == 12
    assert lost_between(counts, began=300, recovered=305) == 0  # nothing failed then
    still = {**counts, "windows": [*windows[:2], window(203.5, 206, None, refused=5)]}
    assert lost_between(still, began=200.2, recovered=206.0) is None  # not over yet
    assert lost_between({**counts, "started": 201.0}, began=200.2, recovered=206.0) is None


def test_a_recovered_restart_gets_its_cost_in_requests() -> None:
    began = NOW.timestamp() - 30
    status = Status.load({})
    since = datetime.fromtimestamp(began, UTC).isoformat()
    status.history = [Restart(restart=1, pod_name="demo-webapp", reason="LivenessProbe",
                              evidence="Journal", time=None, recovery_seconds=6.0,
                              failing_since=since)]  # fmt: skip
    counts = {"started": began - 60, "sent": 10, "answers": {"ok": 4, "5xx": 6}, "byPod": {},
              "windows": [window(began + 0.5, began + 3, began + 6.5, **{"5xx": 6})]}  # fmt: skip
    previous = status.dump()
    done = run(previous, Reading("client-1", "demo-traffic", counts))
    assert done["history"][0]["requestsLost"] == 6
