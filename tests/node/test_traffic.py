"""Traffic through the Service on the real node (kube-proxy's rules, the kubelet's probes, our
images): the traffic client's answers, as the operator records them in status.traffic, against
the webapp's own count of what it answered each Pod's caller (`webapp_work_requests_total`), and
against the test's own client sending through the same Service."""

from __future__ import annotations

import threading
import time
import urllib.request
from typing import Any

import pytest

from webapp.traffic.send import Target, send
from webapp.traffic.tally import Tally

from ..conftest import Scraped, eventually
from .conftest import Cluster
from .test_e2e import start_demo
from .test_replicas import PATIENT

pytestmark = pytest.mark.node


def answered(ip: str) -> int:
    """What the webapp at `ip` says it answered the traffic client (ok and 5xx)."""
    with urllib.request.urlopen(f"http://{ip}:5000/metrics", timeout=5) as response:
        found = Scraped.parse(response.read().decode())
    return sum(
        int(found("webapp_work_requests_total", source="traffic", code=code) or 0)
        for code in ("200", "500")
    )


def test_every_request_is_counted_once_and_the_webapps_agree(
    deployed: Cluster, namespace: str
) -> None:
    sample = 60
    demo = start_demo(deployed, namespace, "served", replicas=2,
                      traffic={"ratePerSecond": 20, "requests": sample})  # fmt: skip
    done = demo.until(
        lambda s: (s.get("traffic") or {}).get("sent") == sample, f"{sample} requests counted",
        timeout=90,
    )  # fmt: skip
    traffic = done["traffic"]
    answers = traffic["answers"]
    assert sum(answers.values()) == sample and answers["5xx"] == 0
    assert traffic["lost"] == sample - answers["ok"]
    assert sum(traffic["byPod"].values()) == answers["ok"]
    # Each Pod's own count of the client's requests is the status's, Pod by Pod.
    ips = {
        name: deployed.get("pod", name, namespace)["status"]["podIP"]
        for name in ("served-webapp", "served-webapp-1")
    }
    assert {name: answered(ip) for name, ip in ips.items()} == traffic["byPod"]
    assert all(n > 0 for n in traffic["byPod"].values())  # the Service used both
    conditions = {c["type"]: c for c in done["conditions"]}
    assert conditions["CountsComplete"]["status"] == "True"


def test_the_clients_last_requests_are_counted_when_traffic_is_removed(
    deployed: Cluster, namespace: str
) -> None:
    """spec.traffic removed: the client Pod is deleted, and the requests it sent since the
    operator's last reading (every 2 s, at 20/s up to 40) still count: it serves its final count
    until read. The status then equals what the webapps say they answered it, exactly."""
    demo = start_demo(deployed, namespace, "ending", replicas=2,
                      traffic={"ratePerSecond": 20})  # fmt: skip
    demo.until(lambda s: (s.get("traffic") or {}).get("sent", 0) >= 40, "traffic flowing")
    deployed.kubectl("patch", "healthdemo", "ending", "-n", namespace, "--type", "json",
                     "-p", '[{"op": "remove", "path": "/spec/traffic"}]')  # fmt: skip
    eventually(
        lambda: "ending-traffic" not in deployed.kubectl("get", "pods", "-n", namespace,
                                                         "-o", "name").stdout,
        what="the traffic client's Pod gone",
    )  # fmt: skip
    ips = [deployed.get("pod", name, namespace)["status"]["podIP"]
           for name in ("ending-webapp", "ending-webapp-1")]  # fmt: skip
    answered_by_webapps = sum(answered(ip) for ip in ips)
    done = demo.until(lambda s: s["traffic"]["sent"] == answered_by_webapps,
                      f"{answered_by_webapps} requests counted", timeout=30)  # fmt: skip
    assert done["traffic"]["answers"]["ok"] == answered_by_webapps
    assert done["traffic"]["lost"] == 0 and "client" not in done["traffic"]
    conditions = {c["type"]: c for c in done["conditions"]}
    assert conditions["CountsComplete"]["status"] == "True", conditions["CountsComplete"]
    ledger = done["accounting"]["traffic"]
    assert all(seen.get("final") for seen in ledger.values()), ledger


def test_a_liveness_restart_without_readiness_costs_requests(
    deployed: Cluster, namespace: str
) -> None:
    """One replica, no readiness probe: the Service keeps sending while the app fails (500s)
    and while its container restarts (refused): the client's losses, and our own beside it."""
    demo = start_demo(deployed, namespace, "alone", traffic={"ratePerSecond": 10},
                      livenessProbe=PATIENT)  # fmt: skip
    demo.until(lambda s: (s.get("traffic") or {}).get("sent", 0) >= 20, "traffic flowing")
    service = deployed.get("service", "alone-webapp", namespace)
    ours = Tally(started=time.time())
    stop = threading.Event()

    def own_client() -> None:
        target = Target(service["spec"]["clusterIP"], 80, "/work")
        while not stop.wait(0.1):
            at = time.time()
            kind, pod = send(target, timeout=1.0)
            ours.record(kind, pod, at)

    thread = threading.Thread(target=own_client, daemon=True)
    thread.start()
    try:
        time.sleep(2)
        before = demo.status()["traffic"]
        assert demo.call("/start-failing", method="POST")[0] == 200
        demo.until(lambda s: s.get("restarts") == 1, "the liveness restart")
        after = demo.until(
            lambda s: s["history"][0].get("recoverySeconds") is not None
            and s["traffic"]["answers"]["ok"] > before["answers"]["ok"] + 20,
            "ready again and answering",
        )  # fmt: skip
    finally:
        stop.set()
        thread.join(timeout=5)
    lost = after["traffic"]["lost"] - before["lost"]
    failed: dict[str, Any] = {
        k: after["traffic"]["answers"][k] - before["answers"][k]
        for k in ("5xx", "refused", "reset", "timeout")
    }
    # The client lost requests: 500s while the app failed its liveness probe, then no answer
    # while the container restarted. Our own client through the same Service lost some too.
    assert lost > 0 and failed["5xx"] > 0, failed
    assert ours.answers["5xx"] > 0 and ours.failed > 0, ours.answers
    assert ours.answers["ok"] > 0
    # The operator's word on what this restart cost: the client's failures from the first one
    # to ready again; all of them are among what the client lost over the whole test.
    told = demo.until(
        lambda s: s["history"][0].get("requestsLost") is not None, "the restart's cost told"
    )["history"][0]["requestsLost"]
    assert 0 < told <= lost, (told, lost)
