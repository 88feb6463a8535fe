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
from healthdemo_operator.traffic.tally import Reading
from healthdemo_operator.traffic.windows import lost_between

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
    # Deleted, the client serves its final count; a new client Pod then counts from its own
    # zero, on top.
    final = run(second, Reading("client-1", "demo-traffic", {**counts(25, 20, 5), "final": True}))
    third = run(final, Reading("client-2", "demo-traffic", counts(4, 4)))
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
    assert done["traffic"]["lostIn"]["Restart"] == 6
    # Told once: read again, the total stays.
    assert (
        run(done, Reading("client-1", "demo-traffic", counts))["traffic"]["lostIn"]
        == (done["traffic"]["lostIn"])
    )


def two_replicas(*pods: dict[str, Any], previous: dict[str, Any] | None, reading: Reading,
                 now: datetime) -> dict[str, Any]:  # fmt: skip
    return record(
        previous=previous or {},
        spec=podspec.effective({**SPEC, "replicas": 2}),
        generation=1,
        pod_name="demo-webapp",
        pods=[pod_view(p) for p in pods],
        events=[],
        traffic=reading,
        problem=None,
        now=now,
    ).status


def replica(n: int, uid: str, **kwargs: Any) -> dict[str, Any]:
    raw = pod(uid=uid, name=podspec.pod_name("demo", n), container_id=f"containerd://{uid}",
              **kwargs)  # fmt: skip
    raw["metadata"]["labels"]["demo.example.com/replica"] = str(n)
    return raw


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(NOW.timestamp() + seconds, UTC)


def stamp(seconds: int) -> str:
    return at(seconds).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_spell_out_of_service_gets_its_cost_in_requests() -> None:
    """Readiness took replica 0 out for 4 s; the client's windows then say what it cost."""
    base = NOW.timestamp()
    lost = {"started": base - 100, "sent": 50, "answers": {"ok": 42, "refused": 8}, "byPod": {},
            "windows": [window(base + 10.2, base + 13.9, base + 14.1, refused=8)]}  # fmt: skip
    reading = Reading("client-1", "demo-traffic", lost)
    ready = two_replicas(replica(0, "a"), replica(1, "b"), previous=None, reading=reading,
                         now=at(5))  # fmt: skip
    out = two_replicas(replica(0, "a", ready=False, ready_since=stamp(10)), replica(1, "b"),
                       previous=ready, reading=reading, now=at(12))  # fmt: skip
    assert "episodes" not in out["traffic"]  # not over yet
    back = two_replicas(replica(0, "a", ready_since=stamp(14)), replica(1, "b"),
                        previous=out, reading=reading, now=at(15))  # fmt: skip
    (episode,) = back["traffic"]["episodes"]
    assert episode == {"kind": "OutOfService", "pod": "demo-webapp", "podUID": "a", "replica": 0,
                       "start": stamp(10), "end": stamp(14), "seconds": 4.0}  # fmt: skip
    # Told once the client has had time to answer after it: its windows then.
    told = two_replicas(replica(0, "a", ready_since=stamp(14)), replica(1, "b"),
                        previous=back, reading=reading, now=at(17))  # fmt: skip
    assert told["traffic"]["episodes"][0]["requestsLost"] == 8
    assert told["traffic"]["lostIn"] == {"Restart": 0, "OutOfService": 8, "PodDeleted": 0}
    # Counted once: the next readings leave it as it is.
    again = two_replicas(replica(0, "a", ready_since=stamp(14)), replica(1, "b"),
                         previous=told, reading=reading, now=at(40))  # fmt: skip
    assert again["traffic"]["episodes"] == told["traffic"]["episodes"]
    assert again["traffic"]["lostIn"] == told["traffic"]["lostIn"]


def test_a_spell_during_a_restart_is_the_restarts() -> None:
    """A restart takes its Pod out of service too; its history item counts that loss, so the
    spell is no episode of its own (the loss is never counted twice)."""
    reading = Reading("client-1", "demo-traffic", counts(10, 10))
    status = Status.load(two_replicas(replica(0, "a"), replica(1, "b"), previous=None,
                                      reading=reading, now=at(5)))  # fmt: skip
    status.history = [Restart(restart=1, pod_name="demo-webapp", reason="Crash",
                              evidence="Runtime", time=stamp(10))]  # fmt: skip
    out = two_replicas(replica(0, "a", ready=False, ready_since=stamp(10)), replica(1, "b"),
                       previous=status.dump(), reading=reading, now=at(12))  # fmt: skip
    back = two_replicas(replica(0, "a", ready_since=stamp(13)), replica(1, "b"),
                        previous=out, reading=reading, now=at(20))  # fmt: skip
    assert back["readiness"]["outOfService"] == 1
    assert "episodes" not in back["traffic"]


def test_a_deleted_pod_costs_the_requests_until_its_successor_is_ready() -> None:
    base = NOW.timestamp()
    lost = {"started": base - 100, "sent": 90, "answers": {"ok": 87, "refused": 3}, "byPod": {},
            "windows": [window(base + 10.5, base + 10.8, base + 10.9, refused=3)]}  # fmt: skip
    reading = Reading("client-1", "demo-traffic", lost)
    first = two_replicas(replica(0, "a"), replica(1, "b"), previous=None, reading=reading,
                         now=at(5))  # fmt: skip
    deleting = replica(0, "a", deleting=True)
    deleting["metadata"]["deletionTimestamp"] = stamp(40)
    deleting["metadata"]["deletionGracePeriodSeconds"] = 30
    going = two_replicas(deleting, replica(1, "b"), previous=first, reading=reading, now=at(11))
    (episode,) = going["traffic"]["episodes"]
    assert (episode["kind"], episode["start"], "end" in episode) == ("PodDeleted", stamp(10), False)
    # Its successor (same replica, another Pod) is created, and not ready yet: still going on.
    successor = replica(0, "c", ready=False, ready_since=stamp(18))
    waiting = two_replicas(successor, replica(1, "b"), previous=going, reading=reading, now=at(19))
    assert "end" not in waiting["traffic"]["episodes"][0]
    ready = replica(0, "c", ready_since=stamp(21))
    done = two_replicas(ready, replica(1, "b"), previous=waiting, reading=reading, now=at(24))
    (episode,) = done["traffic"]["episodes"]
    assert (episode["end"], episode["seconds"], episode["requestsLost"]) == (stamp(21), 11.0, 3)


def test_a_pod_removed_for_fewer_replicas_ends_its_episode_when_it_is_gone() -> None:
    reading = Reading("client-1", "demo-traffic", {**counts(10, 10), "started": 0.0})
    spec = podspec.effective({**SPEC, "replicas": 1})
    leaving = replica(1, "b", deleting=True)

    def once(pods: list[dict[str, Any]], previous: dict[str, Any], now: datetime) -> Any:
        return record(previous=previous, spec=spec, generation=2, pod_name="demo-webapp",
                      pods=[pod_view(p) for p in pods], events=[], traffic=reading,
                      problem=None, now=now).status  # fmt: skip

    going = once([replica(0, "a"), leaving], {}, at(1))
    assert "end" not in going["traffic"]["episodes"][0]
    gone = once([replica(0, "a")], going, at(6))
    assert gone["traffic"]["episodes"][0]["end"] == stamp(6)
    assert once([replica(0, "a")], gone, at(9))["traffic"]["episodes"][0]["requestsLost"] == 0


def test_a_client_gone_before_its_final_count_was_read_is_a_gap_said_once() -> None:
    first = run(None, Reading("client-1", "demo-traffic", counts(10, 10)))
    # Its Pod went (deleted, its final count never read), and no client runs now.
    gone = run(first, None)
    counted = {c["type"]: c for c in gone["conditions"]}["CountsComplete"]
    assert counted["status"] == "False"
    assert "client-1 went before its final count was read" in counted["message"]
    assert "(10 counted)" in counted["message"]
    assert gone["traffic"]["sent"] == 10
    again = run(gone, None)
    assert again["accounting"]["gaps"] == gone["accounting"]["gaps"]  # said once
