"""Which route the kubelet's counters are read by: straight from the kubelet, or, where it cannot
be reached (an operator outside the cluster network: `kopf run` on a laptop), through the API
server's node proxy — only for an identity the API server says may use it."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from healthdemo_operator.kube import Kube, KubeletRefused
from healthdemo_operator.kubelet.reader import KubeletCounters, Reading

from .kubelet_data import NODE, POD_UID, PROBE_METRICS


class Cluster:
    """The calls the reader makes, answered as a cluster seen from outside its network would."""

    def __init__(self, *, reachable: bool, may_proxy: bool, refuses: int | None = None) -> None:
        self.reachable, self.may_proxy, self.refuses = reachable, may_proxy, refuses
        self.calls: list[str] = []

    def kubelet_endpoint(self, node: str) -> tuple[str, int]:
        return "10.0.0.9", 10250

    def kubelet_get(self, address: str, port: int, path: str) -> str:
        self.calls.append(f"kubelet {path}")
        if self.refuses:
            raise KubeletRefused(self.refuses, "Forbidden")
        if not self.reachable:
            raise TimeoutError("timed out")
        return PROBE_METRICS if path == "/metrics/probes" else "{}"

    def may(self, verb: str, resource: str, subresource: str = "") -> bool:
        self.calls.append(f"may {verb} {resource}/{subresource}")
        return self.may_proxy

    def node_proxy_get(self, node: str, path: str) -> str:
        self.calls.append(f"proxy {path}")
        return PROBE_METRICS if path == "/metrics/probes" else "{}"


def read(cluster: Cluster, times: int = 1) -> Reading:
    async def scenario() -> Reading:
        counters = KubeletCounters(lambda: cast(Kube, cluster), on_change=lambda *_: None)
        for _ in range(times):
            reading = await counters.refresh(NODE)
        return reading

    return asyncio.run(scenario())


def counted(reading: Reading) -> Any:
    assert reading.pods is not None, reading.error
    return reading.pods[POD_UID].failures("Liveness")


def test_in_the_cluster_the_kubelet_is_read_straight_and_nothing_else_is_asked() -> None:
    cluster = Cluster(reachable=True, may_proxy=True)
    reading = read(cluster)
    assert (reading.route, counted(reading)) == ("Kubelet", 32)
    assert not any(call.startswith(("may", "proxy")) for call in cluster.calls)


def test_out_of_reach_an_admin_reads_through_the_node_proxy_from_then_on() -> None:
    cluster = Cluster(reachable=False, may_proxy=True)
    reading = read(cluster, times=3)
    assert (reading.route, counted(reading)) == ("APIServerProxy", 32)
    # Asked once whether it may; the kubelet itself tried once; every read after by the proxy.
    assert cluster.calls.count("may get nodes/proxy") == 1
    assert cluster.calls.count("kubelet /metrics/probes") == 1
    assert cluster.calls.count("proxy /metrics/probes") == 3
    assert "proxy /configz" in cluster.calls  # the back-off schedule by the same route


def test_out_of_reach_a_least_privilege_identity_says_why_it_cannot_read() -> None:
    cluster = Cluster(reachable=False, may_proxy=False)
    reading = read(cluster)
    assert reading.pods is None and reading.route is None
    assert reading.error is not None and "may not `get nodes/proxy`" in reading.error
    assert not any(call.startswith("proxy") for call in cluster.calls)


def test_a_kubelet_that_refuses_is_no_reason_to_go_round_it() -> None:
    cluster = Cluster(reachable=True, may_proxy=True, refuses=403)
    reading = read(cluster)
    assert reading.error is not None and "nodes/metrics" in reading.error
    assert not any(call.startswith(("may", "proxy")) for call in cluster.calls)


def test_the_status_says_which_route_the_counters_came_by() -> None:
    from datetime import UTC, datetime  # noqa: PLC0415

    from healthdemo_operator import podspec  # noqa: PLC0415
    from healthdemo_operator.kubelet.probe_counters import PodCounters  # noqa: PLC0415
    from healthdemo_operator.observations import pod_view  # noqa: PLC0415
    from healthdemo_operator.status.record import record  # noqa: PLC0415

    from .kubelet_data import pod  # noqa: PLC0415

    now = datetime(2026, 12, 7, tzinfo=UTC)

    def status(counters: dict[str, PodCounters], previous: dict[str, Any]) -> dict[str, Any]:
        return record(previous=previous, spec=podspec.effective({}), generation=1,
                      pod_name="demo-webapp", pods=[pod_view(pod())], events=[],
                      counters=counters, problem=None, now=now).status  # fmt: skip

    proxied = status({POD_UID: PodCounters(None, now, route="APIServerProxy")}, {})
    assert proxied["kubeletRoute"] == "APIServerProxy"
    assert status({}, proxied)["kubeletRoute"] == "APIServerProxy"  # kept until read again
