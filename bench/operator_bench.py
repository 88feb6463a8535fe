"""Operator benchmark: reaction, recording and scale, against a real control plane.

Run:  .venv/bin/python bench/operator_bench.py [--reaction 200] [--live 100] [--scale 1000]
      [--json bench/results/operator.json]

It starts its own etcd + kube-apiserver + kube-controller-manager (the real binaries, see
README), installs crds/ and deploy/, and runs the operator locally as its ServiceAccount.
No kubelet is needed: Pods stay unscheduled, and where a kubelet's signal is needed the benchmark
writes it through the API exactly as a kubelet would (Pod status, Events). Prints a table, and
writes JSON.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import queue
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from healthdemo_sandbox import bringup
from healthdemo_sandbox.controlplane import ControlPlane
from healthdemo_sandbox.localoperator import LocalOperator
from kubernetes import client, watch

ROOT = Path(__file__).resolve().parent.parent
GROUP, VERSION, PLURAL = "demo.example.com", "v1", "healthdemos"
OPERATOR_USER = "system:serviceaccount:healthdemo-system:healthdemo-operator"


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "n": len(samples),
        "p50_ms": percentile(samples, 0.5) * 1000,
        "p99_ms": percentile(samples, 0.99) * 1000,
        "max_ms": max(samples) * 1000,
    }


def healthdemo(namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "HealthDemo",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"livenessProbe": {"periodSeconds": 2}},
    }


def named(name: str, restarts: int | None = None) -> Callable[[dict[str, Any]], bool]:
    """A watch predicate: the object called `name` (with that many restarts recorded)."""

    def matches(obj: dict[str, Any]) -> bool:
        if obj["metadata"]["name"] != name:
            return False
        return restarts is None or (obj.get("status") or {}).get("restarts") == restarts

    return matches


def stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Watcher:
    """Watches one kind in one namespace from a thread; records when each object was seen in
    each state (time.perf_counter), so latencies are measured where a client would see them."""

    def __init__(self, list_fn: Callable[..., Any], **kwargs: str) -> None:
        self.list_fn, self.kwargs = list_fn, kwargs
        self.events: queue.Queue[tuple[float, str, dict[str, Any]]] = queue.Queue()
        self._watch = watch.Watch()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        time.sleep(0.5)  # the watch is established

    def _run(self) -> None:
        try:
            for event in self._watch.stream(self.list_fn, **self.kwargs):
                raw = event["raw_object"]
                self.events.put((time.perf_counter(), event["type"], raw))
        except Exception:  # the stream ends when we stop it, or when the server goes
            return

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 30) -> float:
        deadline = time.perf_counter() + timeout
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError("watched condition not seen")
            seen, _kind, raw = self.events.get(timeout=left)
            if predicate(raw):
                return seen

    def stop(self) -> None:
        self._watch.stop()


class Audit:
    """Counts the operator's requests in the API server's audit log, from an offset on."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size

    def mark(self) -> None:
        self.offset = self.path.stat().st_size

    def requests(self) -> list[dict[str, Any]]:
        with self.path.open("rb") as log:
            log.seek(self.offset)
            data = log.read()
        found = []
        for line in data.splitlines():
            event = json.loads(line)
            if event["user"]["username"] == OPERATOR_USER and event["stage"] == "ResponseComplete":
                found.append(event)
        return found

    def count(self, verb: str, subresource: str | None = None, resource: str | None = None) -> int:
        return sum(
            1
            for e in self.requests()
            if e["verb"] == verb
            and (resource is None or (e.get("objectRef") or {}).get("resource") == resource)
            and (
                subresource is None or (e.get("objectRef") or {}).get("subresource") == subresource
            )
        )

    def wait_quiet(self, quiet_s: float = 2.0, timeout: float = 600) -> float:
        """Seconds until the operator made no non-watch request for `quiet_s`."""
        start = time.monotonic()
        last_size, last_change = -1, time.monotonic()
        while time.monotonic() - start < timeout:
            size = len([e for e in self.requests() if e["verb"] != "watch"])
            if size != last_size:
                last_size, last_change = size, time.monotonic()
            elif time.monotonic() - last_change >= quiet_s:
                return last_change - start
            time.sleep(0.2)
        raise TimeoutError("the operator never went quiet")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Bench:
    plane: ControlPlane
    operator: LocalOperator
    audit: Audit
    core: client.CoreV1Api = field(init=False)
    custom: client.CustomObjectsApi = field(init=False)

    def __post_init__(self) -> None:
        api = self.plane.api_client()
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)

    def namespace(self, name: str) -> str:
        self.plane.kubectl("create", "namespace", name)
        return name

    # -- reaction ----------------------------------------------------------------------------

    def reaction(self, count: int) -> dict[str, Any]:
        """CR created → its Pod seen by a watching client, vs a Pod created directly."""
        ns = self.namespace("bench-reaction")
        pods = Watcher(self.core.list_namespaced_pod, namespace=ns)
        bare, operated = [], []
        try:
            for n in range(count):
                start = time.perf_counter()
                self.core.create_namespaced_pod(
                    ns,
                    {
                        "metadata": {"name": f"bare-{n}"},
                        "spec": {"containers": [{"name": "c", "image": "flask-webapp:latest"}]},
                    },
                )
                seen = pods.wait_for(named(f"bare-{n}"))
                bare.append(seen - start)
                start = time.perf_counter()
                self.custom.create_namespaced_custom_object(
                    GROUP, VERSION, ns, PLURAL, healthdemo(ns, f"hd-{n}")
                )
                seen = pods.wait_for(named(f"hd-{n}-webapp"))
                operated.append(seen - start)
        finally:
            pods.stop()
        return {
            "bare_pod": summary(bare),
            "operator": summary(operated),
            "ratio_p50": percentile(operated, 0.5) / percentile(bare, 0.5),
            "ratio_p99": percentile(operated, 0.99) / percentile(bare, 0.99),
        }

    # -- recording ---------------------------------------------------------------------------

    def _create_many(self, ns: str, count: int, prefix: str) -> None:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(
                pool.map(
                    lambda n: self.custom.create_namespaced_custom_object(
                        GROUP, VERSION, ns, PLURAL, healthdemo(ns, f"{prefix}-{n}")
                    ),
                    range(count),
                )
            )

    def _wait_pods(self, ns: str, count: int, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while len(self.core.list_namespaced_pod(ns).items) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{count} Pods not created in {ns}")
            time.sleep(0.5)

    def recording(self, live: int) -> dict[str, Any]:
        """A kubelet-side restart (Pod status + Killing Event) → the CR's status shows it."""
        ns = self.namespace("bench-recording")
        self._create_many(ns, live, "rec")
        self._wait_pods(ns, live)
        self.audit.wait_quiet()
        hds = Watcher(
            self.custom.list_namespaced_custom_object,
            group=GROUP, version=VERSION, namespace=ns, plural=PLURAL,
        )  # fmt: skip
        latencies = []
        self.audit.mark()
        try:
            for n in range(live):
                name = f"rec-{n}"
                start = time.perf_counter()
                self._kubelet_restart(ns, f"{name}-webapp")
                seen = hds.wait_for(named(name, restarts=1))
                latencies.append(seen - start)
        finally:
            hds.stop()
        time.sleep(1)
        patches = self.audit.count("patch", subresource="status")
        return {
            "live_healthdemos": live,
            "restart_to_status": summary(latencies),
            "status_patches_per_restart": patches / live,
        }

    def _kubelet_restart(self, ns: str, pod: str) -> None:
        """What a kubelet writes for one liveness restart: the Killing Event, then the status."""
        uid = self.core.read_namespaced_pod(pod, ns).metadata.uid
        now = stamp()
        self.core.create_namespaced_event(
            ns,
            {
                "metadata": {"generateName": f"{pod}."},
                "involvedObject": {"kind": "Pod", "name": pod, "namespace": ns, "uid": uid,
                                   "apiVersion": "v1", "fieldPath": "spec.containers{webapp}"},
                "reason": "Killing", "type": "Normal",
                "message": "Container webapp failed liveness probe, will be restarted",
                "source": {"component": "kubelet"}, "count": 1,
                "firstTimestamp": now, "lastTimestamp": now,
            },
        )  # fmt: skip
        container = {
            "name": "webapp", "image": "flask-webapp:latest", "imageID": "", "ready": True,
            "restartCount": 1, "started": True, "containerID": "containerd://new",
            "state": {"running": {"startedAt": now}},
            "lastState": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now,
                                         "finishedAt": now, "containerID": "containerd://old"}},
        }  # fmt: skip
        self.core.patch_namespaced_pod_status(
            pod, ns, {"status": {"phase": "Running", "containerStatuses": [container]}}
        )

    # -- scale -------------------------------------------------------------------------------

    def scale(self, count: int) -> dict[str, Any]:
        """Many HealthDemos whose Pods never run: the operator's own cost."""
        ns = self.namespace("bench-scale")
        pid = self.operator.pid or 0
        self.audit.mark()
        start = time.monotonic()
        self._create_many(ns, count, "s")
        self._wait_pods(ns, count)
        settle_create = self.audit.wait_quiet()
        settled_at = time.monotonic() - start
        requests_create = len([e for e in self.audit.requests() if e["verb"] != "watch"])
        # Idle: no changes for 30 s — requests (hot loops?) and CPU.
        self.audit.mark()
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        time.sleep(30)
        idle_cpu = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0) * 100
        idle_requests = len([e for e in self.audit.requests() if e["verb"] != "watch"])
        rss = rss_mb(pid)
        # 100 changes (one kubelet-side restart each) → requests per change.
        changes = min(100, count)
        self.audit.mark()
        for n in range(changes):
            self._kubelet_restart(ns, f"s-{n}-webapp")
        self.audit.wait_quiet()
        status_patches = self.audit.count("patch", subresource="status")
        other = [e for e in self.audit.requests() if e["verb"] != "watch"]
        # Restart the operator with everything in place: time to settle again.
        self.operator.stop()
        self.audit.mark()
        restarted = time.monotonic()
        self.operator.start()
        # Settled: the recorder has looked at every HealthDemo, then all is quiet.
        while True:
            stats = (self.operator.health() or {}).get("recorder") or {}
            if stats.get("reconciles", 0) >= count and stats.get("queued", 1) == 0:
                break
            time.sleep(0.2)
        settle_restart = time.monotonic() - restarted + self.audit.wait_quiet()
        restart_requests = len([e for e in self.audit.requests() if e["verb"] != "watch"])
        return {
            "healthdemos": count,
            "create_to_settled_s": settled_at,
            "requests_while_creating": requests_create,
            "last_write_after_create_s": settle_create,
            "rss_mb": rss,
            "idle_cpu_percent": idle_cpu,
            "idle_requests_30s": idle_requests,
            "status_patches_per_change": status_patches / changes,
            "requests_per_change": len(other) / changes,
            "restart_settle_s": settle_restart,
            "restart_requests": restart_requests,
            "rss_mb_after_restart": rss_mb(self.operator.pid or 0),
        }


@contextmanager
def environment(workdir: Path) -> Iterator[Bench]:
    plane = bringup.start_plane(bringup.find_binaries(), workdir=workdir / "cp")
    try:
        bringup.install(plane)
        if plane.audit_log is None:
            raise RuntimeError("the benchmark counts requests in the audit log")
        operator = bringup.start_local_operator(plane, workdir / "operator.log")
        try:
            yield Bench(plane, operator, Audit(plane.audit_log))
        finally:
            operator.stop()
    finally:
        plane.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--reaction", type=int, default=200, help="CRs for the reaction test")
    parser.add_argument("--live", type=int, default=100, help="live HealthDemos for recording")
    parser.add_argument("--scale", type=int, default=1000, help="HealthDemos for the scale test")
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "operator.json"))
    args = parser.parse_args()

    machine = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    results: dict[str, Any] = {"machine": machine}
    workdir = Path(tempfile.mkdtemp(prefix="healthdemo-bench-"))
    with environment(workdir) as bench:
        if args.reaction:
            results["reaction"] = bench.reaction(args.reaction)
            print_reaction(results["reaction"])
        if args.live:
            results["recording"] = bench.recording(args.live)
            print_recording(results["recording"])
        if args.scale:
            results["scale"] = bench.scale(args.scale)
            print_scale(results["scale"])
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=2))
    print(f"\nJSON: {args.json}")


def print_reaction(r: dict[str, Any]) -> None:
    b, o = r["bare_pod"], r["operator"]
    print(f"reaction over {o['n']} CRs (create → Pod seen by a watch):")
    print(f"  bare Pod create       p50 {b['p50_ms']:7.1f} ms   p99 {b['p99_ms']:7.1f} ms")
    print(f"  HealthDemo → its Pod  p50 {o['p50_ms']:7.1f} ms   p99 {o['p99_ms']:7.1f} ms")
    print(f"  ratio                 p50 {r['ratio_p50']:7.2f} x    p99 {r['ratio_p99']:7.2f} x")


def print_recording(r: dict[str, Any]) -> None:
    s = r["restart_to_status"]
    print(f"recording with {r['live_healthdemos']} live HealthDemos (restart → status):")
    print(f"  p50 {s['p50_ms']:.1f} ms   p99 {s['p99_ms']:.1f} ms   max {s['max_ms']:.1f} ms")
    print(f"  status PATCHes per restart: {r['status_patches_per_restart']:.2f}")


def print_scale(r: dict[str, Any]) -> None:
    print(f"scale with {r['healthdemos']} HealthDemos (Pods unscheduled):")
    for key, value in r.items():
        if key != "healthdemos":
            shown = f"{value:10.2f}" if isinstance(value, float) else f"{value:10}"
            print(f"  {key:<28} {shown}")


if __name__ == "__main__":
    main()
