"""Operator benchmark: ours against two minimal peers, on one real control plane.

Run:  .venv/bin/python bench/operator_bench.py [--operators ours,kopf,go] [--reaction 200]
      [--live 100] [--scale 1000] [--storm-rate 10000] [--storm-seconds 60]
      [--json bench/results/operator.json]
Quick:  .venv/bin/python bench/operator_bench.py --reaction 50 --live 20 --scale 200 \
      --storm-seconds 20

It starts its own etcd + kube-apiserver + kube-controller-manager (the real binaries, see
README), installs crds/ and deploy/, and then, for each operator in turn and each ALONE (the one
before it stopped, its namespaces gone), runs the same scenarios in namespaces of its own:

  ours  our operator (operator/main.py), locally as its ServiceAccount (deploy/'s RBAC)
  kopf  bench/peers/kopf_peer.py: a minimal Kopf operator doing the core job only
  go    bench/peers/go_peer/: a minimal controller-runtime operator doing the core job only

Each peer has an identity of its own (a client certificate the sandbox CA signs, in
system:masters), so the audit log tells its requests from the benchmark's. No kubelet is needed:
Pods stay unscheduled, and where a kubelet's signal is needed the benchmark writes it through the
API exactly as a kubelet would (Pod status, Events). Prints a side-by-side table, writes JSON.
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
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from healthdemo_operator.settings import Settings
from healthdemo_sandbox import bringup
from healthdemo_sandbox.controlplane import ControlPlane, users
from healthdemo_sandbox.kubeletstandin import KubeletStandIn, StandInPod, probes_text
from healthdemo_sandbox.localoperator import LocalOperator
from healthdemo_sandbox.paths import ROOT
from kubernetes import client, watch
from prometheus_client.parser import text_string_to_metric_families

# Run as a script, bench/ is no package: its peers are found from the repository's root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.peers.peer_process import PeerProcess

GROUP, VERSION, PLURAL = "demo.example.com", "v1", "healthdemos"
OPERATOR_USER = "system:serviceaccount:healthdemo-system:healthdemo-operator"
OPERATORS = {"ours": "ours", "kopf": "kopf peer", "go": "go peer"}
POLL_SECONDS = Settings.kubelet_poll_seconds  # how often ours reads each node's kubelet
RECONCILE = "healthdemo_operator_reconcile_duration_seconds"  # our /metrics histogram


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


def copy_of(pod: dict[str, Any], name: str) -> dict[str, Any]:
    """The same Pod under another name, as a client would create it (no server-set fields),
    without the managed-by label: the operator does not select it, so it stays out of the way."""
    meta = {k: v for k, v in pod["metadata"].items() if k in ("annotations", "ownerReferences")}
    labels = {k: v for k, v in (pod["metadata"].get("labels") or {}).items()
              if k != "app.kubernetes.io/managed-by"}  # fmt: skip
    spec = {k: v for k, v in pod["spec"].items() if k != "nodeName"}
    return {"metadata": {**meta, "labels": labels, "name": name}, "spec": spec}


def named(name: str, restarts: int | None = None) -> Callable[[dict[str, Any]], bool]:
    """A watch predicate: the object called `name` (with that many restarts recorded)."""

    def matches(obj: dict[str, Any]) -> bool:
        if obj["metadata"]["name"] != name:
            return False
        return restarts is None or (obj.get("status") or {}).get("restarts") == restarts

    return matches


def failed_once(name: str) -> Callable[[dict[str, Any]], bool]:
    """A watch predicate: the HealthDemo called `name` with one probe failure recorded."""

    def matches(obj: dict[str, Any]) -> bool:
        status = obj.get("status") or {}
        return bool(obj["metadata"]["name"] == name and status.get("probeFailures") == 1)

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

    def wait_for_each(
        self, predicates: dict[str, Callable[[dict[str, Any]], bool]], timeout: float = 30
    ) -> dict[str, float]:
        """When each predicate first held (one watch stream for all: waiting for them one by one
        would drop the events of the others that came meanwhile)."""
        deadline = time.perf_counter() + timeout
        seen: dict[str, float] = {}
        while len(seen) < len(predicates):
            left = deadline - time.perf_counter()
            if left <= 0:
                missing = sorted(predicates.keys() - seen.keys())
                raise TimeoutError(f"watched conditions not seen: {missing}")
            try:
                at, _kind, raw = self.events.get(timeout=left)
            except queue.Empty:
                continue
            for key, predicate in predicates.items():
                if key not in seen and predicate(raw):
                    seen[key] = at
        return seen

    def stop(self) -> None:
        self._watch.stop()


class Audit:
    """The API server's audit log, read incrementally: completed requests, by user name."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._pos = path.stat().st_size
        self._rest = b""
        self._by_user: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def of(self, user: str) -> UserAudit:
        """One user's requests from now on (only users asked for are kept)."""
        with self._lock:
            self._read()
            self._by_user.setdefault(user, [])
        return UserAudit(self, user)

    def requests_of(self, user: str) -> list[dict[str, Any]]:
        with self._lock:
            self._read()
            return self._by_user[user]

    def _read(self) -> None:
        with self.path.open("rb") as log:
            log.seek(self._pos)
            data = log.read()
        self._pos += len(data)
        lines = (self._rest + data).split(b"\n")
        self._rest = lines.pop()  # a line still being written
        needles = {user: json.dumps(user).encode() for user in self._by_user}
        for line in lines:
            for user, needle in needles.items():
                if needle in line:
                    try:
                        event = json.loads(line)
                    except ValueError:  # the torn first line after a start mid-line
                        break
                    if event["user"]["username"] == user and event["stage"] == "ResponseComplete":
                        self._by_user[user].append(event)
                    break


class UserAudit:
    """Counts one user's requests in the audit log, from a mark on."""

    def __init__(self, audit: Audit, user: str) -> None:
        self.audit, self.user = audit, user
        self.mark()

    def mark(self) -> None:
        self.offset = len(self.audit.requests_of(self.user))

    def requests(self) -> list[dict[str, Any]]:
        return self.audit.requests_of(self.user)[self.offset :]

    def changes(self) -> list[dict[str, Any]]:
        """Everything but watches (a watch is one long request, counted when it ends)."""
        return [e for e in self.requests() if e["verb"] != "watch"]

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

    def breakdown(self) -> dict[str, int]:
        """Non-watch requests by `verb resource[/subresource]`."""
        kinds: Counter[str] = Counter()
        for e in self.changes():
            ref = e.get("objectRef") or {}
            sub = f"/{ref['subresource']}" if ref.get("subresource") else ""
            kinds[f"{e['verb']} {ref.get('resource', e.get('requestURI', '?'))}{sub}"] += 1
        return dict(kinds.most_common())

    def wait_quiet(self, quiet_s: float = 2.0, timeout: float = 600) -> float:
        """Seconds until the user made no non-watch request for `quiet_s`."""
        start = time.monotonic()
        last_size, last_change = -1, time.monotonic()
        while time.monotonic() - start < timeout:
            size = len(self.changes())
            if size != last_size:
                last_size, last_change = size, time.monotonic()
            elif time.monotonic() - last_change >= quiet_s:
                return last_change - start
            time.sleep(0.2)
        raise TimeoutError(f"{self.user} never went quiet")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Operator(Protocol):
    """What the benchmark needs of an operator process: LocalOperator, PeerProcess."""

    def start(self, timeout: float = ...) -> None: ...
    def stop(self) -> None: ...
    def health(self) -> dict[str, Any] | None: ...
    @property
    def pid(self) -> int | None: ...


@dataclass
class Contender:
    """One operator under test: its process, the user it talks as, its namespaces' prefix."""

    key: str
    process: Operator
    user: str
    audit: UserAudit

    @property
    def pid(self) -> int:
        return self.process.pid or 0

    def settle(self, healthdemos: int, quiet_s: float = 2.0) -> float:
        """Seconds until settled: where the operator counts its reconciles (ours, in /metrics:
        served fresh, unlike Kopf's /healthz, which caches its probes for 10 s), until it has
        reconciled every HealthDemo and nothing is queued; then no request for `quiet_s`."""
        start = time.monotonic()
        while (progress := self.progress()) is not None:
            reconciles, queued = progress
            if reconciles >= healthdemos and queued == 0:
                # ...and its last request: after the one that settled it, if any came later
                return time.monotonic() - start + self.audit.wait_quiet(quiet_s)
            time.sleep(0.05)
        return time.monotonic() - start + self.audit.wait_quiet(quiet_s)

    def progress(self) -> tuple[int, int] | None:
        """(reconciles, queued) from our operator's /metrics; None for a peer."""
        samples = self.samples()
        if samples is None:
            return None
        return (
            int(samples.get(RECONCILE + "_count", 0)),
            int(samples.get("healthdemo_operator_workqueue_depth", 1)),
        )

    def reconcile_seconds(self) -> tuple[int, float] | None:
        """(reconciles, seconds spent in them, the status write included) so far; None for a
        peer (or while not serving)."""
        samples = self.samples()
        if not samples:
            return None
        return int(samples.get(RECONCILE + "_count", 0)), samples.get(RECONCILE + "_sum", 0.0)

    def samples(self) -> dict[str, float] | None:
        """Our operator's /metrics (sample name → value; {} while not serving); None for a
        peer."""
        url = getattr(self.process, "metrics_url", None)
        if url is None:
            return None
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                text = response.read().decode()
        except OSError:
            return {}
        return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}


@dataclass
class Bench:
    plane: ControlPlane
    operator: LocalOperator
    audit: Audit
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="hd-bench-")))
    core: client.CoreV1Api = field(init=False)
    custom: client.CustomObjectsApi = field(init=False)

    def __post_init__(self) -> None:
        api = self.plane.api_client()
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)

    def namespace(self, name: str) -> str:
        self.plane.kubectl("create", "namespace", name)
        return name

    # -- the operators -----------------------------------------------------------------------

    def contender(self, key: str) -> Contender:
        if key == "ours":
            return Contender(key, self.operator, OPERATOR_USER, self.audit.of(OPERATOR_USER))
        user = f"bench-{key}-peer"
        kubeconfig = self.mint_user(user)
        log = self.workdir / f"{user}.log"
        peer = (PeerProcess.kopf if key == "kopf" else PeerProcess.go)(kubeconfig, log)
        return Contender(key, peer, user, self.audit.of(user))

    def mint_user(self, name: str) -> Path:
        """A kubeconfig for `name`: a client certificate from the sandbox CA, system:masters."""
        pki = self.workdir / "pki"
        pki.mkdir(exist_ok=True)
        cert, key = self.plane.ca.issue(name, organizations=["system:masters"], client=True).write(
            pki, name
        )
        path = self.workdir / f"{name}.kubeconfig"
        config = users.kubeconfig(
            self.plane.server, self.plane.ca.cert_pem, name, client_cert=cert, client_key=key
        )
        path.write_text(config)
        path.chmod(0o600)
        return path

    def run(self, op: Contender, args: argparse.Namespace) -> dict[str, Any]:
        """Every scenario for one operator, alone; afterwards its namespaces go, then it stops."""
        namespaces: list[str] = []

        def ns(scenario: str) -> str:
            print(f"   {scenario}", flush=True)
            namespaces.append(self.namespace(f"{op.key}-{scenario}"))
            return namespaces[-1]

        results: dict[str, Any] = {"user": op.user}
        op.process.start()
        try:
            if args.reaction:
                results["reaction"] = self.reaction(op, ns("reaction"), args.reaction)
            if args.live:
                results["recording"] = self.recording(op, ns("recording"), args.live)
            if args.scale:
                # Exactly `scale` HealthDemos in the cluster: the ones before go first.
                self.delete_namespaces(namespaces)
                op.audit.wait_quiet()
                results["scale"] = self.scale(op, ns("scale"), args.scale, args.idle)
                if op.key == "ours" and args.kubelet_nodes:  # the peers read no kubelets
                    results["kubelets"] = self.kubelets(
                        op, namespaces[-1], args.kubelet_nodes, args.kubelet_seconds
                    )
            if args.storm_seconds:
                results["storm"] = self.storm(
                    op, ns("storm"), args.storm_rate, args.storm_seconds, args.idle, container="app"
                )
                # The worst case: other Pods whose container has our container's name pass
                # the API server's filter, and only the operator's own check drops them.
                results["storm_lookalike"] = self.storm(
                    op, ns("storm-lookalike"), args.storm_rate, args.storm_seconds, args.idle,
                    container="webapp",
                )  # fmt: skip
        finally:
            # While it still runs (it may hold finalizers); the next operator must not see them.
            self.delete_namespaces(namespaces)
            op.process.stop()
        return results

    def delete_namespaces(self, namespaces: list[str]) -> None:
        """Delete them and wait until they are gone; `namespaces` is emptied."""
        if namespaces:
            self.plane.kubectl(
                "delete", "namespace", *namespaces, "--wait=true", "--timeout=900s", timeout=960
            )
            namespaces.clear()

    # -- reaction ----------------------------------------------------------------------------

    def reaction(self, op: Contender, ns: str, count: int) -> dict[str, Any]:
        """CR created → its Pod seen by a watching client, vs a Pod created directly.

        Also what any operator's reaction is made of: the CR's create call (an operator hears of
        the CR about when the call returns) and a create of the very Pod the operator makes (its
        owner reference, probes and volumes cost the API server more than a bare Pod's)."""
        pods = Watcher(self.core.list_namespaced_pod, namespace=ns)
        bare, operated, cr_calls, direct = [], [], [], []
        try:
            # Warm-up (and proof that the operator works): one HealthDemo gets its Pod.
            self.custom.create_namespaced_custom_object(
                GROUP, VERSION, ns, PLURAL, healthdemo(ns, "warmup")
            )
            pods.wait_for(named("warmup-webapp"), timeout=120)
            pod_check = self.check_pod(ns, "warmup")
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
                cr_calls.append(time.perf_counter() - start)
                seen = pods.wait_for(named(f"hd-{n}-webapp"))
                operated.append(seen - start)
            ours = self.core.api_client.sanitize_for_serialization(
                self.core.read_namespaced_pod("warmup-webapp", ns)
            )
            for n in range(count):
                start = time.perf_counter()
                self.core.create_namespaced_pod(ns, copy_of(ours, f"direct-{n}"))
                direct.append(pods.wait_for(named(f"direct-{n}")) - start)
        finally:
            pods.stop()
        return {
            "pod_check": pod_check,
            "bare_pod": summary(bare),
            "operator": summary(operated),
            "cr_create_call": summary(cr_calls),
            "our_pod_direct": summary(direct),
            "ratio_p50": percentile(operated, 0.5) / percentile(bare, 0.5),
            "ratio_p99": percentile(operated, 0.99) / percentile(bare, 0.99),
        }

    def check_pod(self, ns: str, name: str) -> str:
        """ "ok" if the HealthDemo's Pod is the one asked for, else what differs."""
        owner = self.custom.get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)
        pod = self.core.read_namespaced_pod(f"{name}-webapp", ns).to_dict()
        webapp = next((c for c in pod["spec"]["containers"] if c["name"] == "webapp"), None)
        http = ((webapp or {}).get("liveness_probe") or {}).get("http_get") or {}
        refs = pod["metadata"].get("owner_references") or []
        problems = [
            what
            for what, ok in (
                ("no container webapp", webapp is not None),
                ("image", (webapp or {}).get("image") == "flask-webapp:latest"),
                ("liveness", http.get("path") == "/healthz" and str(http.get("port")) == "5000"),
                ("owner", any(r["uid"] == owner["metadata"]["uid"] for r in refs)),
            )
            if not ok
        ]
        return "ok" if not problems else "wrong: " + ", ".join(problems)

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

    def recording(self, op: Contender, ns: str, live: int) -> dict[str, Any]:
        """A kubelet-side restart (Pod status + Killing Event) → the CR's status shows it."""
        self._create_many(ns, live, "rec")
        self._wait_pods(ns, live)
        op.audit.wait_quiet()
        hds = Watcher(
            self.custom.list_namespaced_custom_object,
            group=GROUP, version=VERSION, namespace=ns, plural=PLURAL,
        )  # fmt: skip
        latencies = []
        op.audit.mark()
        reconciled_before = op.reconcile_seconds()
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
        patches = op.audit.count("patch", subresource="status")
        result: dict[str, Any] = {
            "live_healthdemos": live,
            "restart_to_status": summary(latencies),
            "status_patches_per_restart": patches / live,
        }
        reconciled_after = op.reconcile_seconds()
        if reconciled_before and reconciled_after:  # ours: how much of it our reconciles took
            count = reconciled_after[0] - reconciled_before[0]
            seconds = reconciled_after[1] - reconciled_before[1]
            result["reconciles"] = count
            result["reconcile_mean_ms"] = seconds / count * 1000 if count else None
        return result

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

    def scale(self, op: Contender, ns: str, count: int, idle_s: float) -> dict[str, Any]:
        """Many HealthDemos whose Pods never run: the operator's own cost."""
        op.audit.mark()
        start = time.monotonic()
        self._create_many(ns, count, "s")
        self._wait_pods(ns, count)
        settle_create = op.audit.wait_quiet()
        settled_at = time.monotonic() - start
        requests_create = len(op.audit.changes())
        breakdown_create = op.audit.breakdown()
        # Idle: no changes for a while — requests (hot loops?) and CPU.
        op.audit.mark()
        cpu0, t0 = cpu_seconds(op.pid), time.monotonic()
        time.sleep(idle_s)
        idle_cpu = (cpu_seconds(op.pid) - cpu0) / (time.monotonic() - t0) * 100
        idle_requests = len(op.audit.changes())
        rss = rss_mb(op.pid)
        # 100 changes (one kubelet-side restart each) → requests per change.
        changes = min(100, count)
        op.audit.mark()
        for n in range(changes):
            self._kubelet_restart(ns, f"s-{n}-webapp")
        op.audit.wait_quiet()
        status_patches = op.audit.count("patch", subresource="status")
        other = op.audit.changes()
        # Restart the operator with everything in place: time to settle again, and how soon a
        # HealthDemo created as it starts gets its Pod (the process start included).
        pods = Watcher(self.core.list_namespaced_pod, namespace=ns)
        op.process.stop()
        op.audit.mark()
        restarted = time.monotonic()
        began = time.perf_counter()
        op.process.start()
        self.custom.create_namespaced_custom_object(
            GROUP, VERSION, ns, PLURAL, healthdemo(ns, "after-restart")
        )
        try:
            first_reaction = pods.wait_for(named("after-restart-webapp"), timeout=600) - began
        finally:
            pods.stop()
        settle_restart = time.monotonic() - restarted + op.settle(count + 1, quiet_s=5.0)
        restart_requests = len(op.audit.changes())
        return {
            "healthdemos": count,
            "create_to_settled_s": settled_at,
            "requests_while_creating": requests_create,
            "requests_per_healthdemo": requests_create / count,
            "requests_while_creating_by_kind": breakdown_create,
            "last_write_after_create_s": settle_create,
            "rss_mb": rss,
            "idle_seconds": idle_s,
            "idle_cpu_percent": idle_cpu,
            "idle_requests": idle_requests,
            "status_patches_per_change": status_patches / changes,
            "requests_per_change": len(other) / changes,
            "restart_settle_s": settle_restart,
            "restart_first_reaction_s": first_reaction,
            "restart_requests": restart_requests,
            "rss_mb_after_restart": rss_mb(op.pid),
        }

    # -- reading kubelets ---------------------------------------------------------------------

    def kubelets(self, op: Contender, ns: str, nodes: int, seconds: float) -> dict[str, Any]:
        """The scale test's Pods spread over `nodes` kubelet stand-ins (not kubelets: they answer
        /metrics/probes in the kubelet's format and nothing else): what polling them costs."""
        standins = [KubeletStandIn(f"standin-{n}", self.plane.ca) for n in range(nodes)]
        try:
            for standin in standins:
                standin.register(self.core)
            pods = self.core.list_namespaced_pod(ns).items
            for n, pod in enumerate(pods):
                standins[n % nodes].bind(
                    self.core,
                    StandInPod(ns, pod.metadata.name, pod.metadata.uid, successful=10),
                )
            deadline = time.monotonic() + 60
            while any(s.reads < 2 for s in standins):  # every node read since its Pods came
                if time.monotonic() > deadline:
                    raise TimeoutError("the operator never read every kubelet stand-in")
                time.sleep(0.2)
            # The first reads give every HealthDemo its counters: a write each, then quiet.
            op.audit.wait_quiet(quiet_s=2 * POLL_SECONDS)
            op.audit.mark()
            reads0 = sum(s.reads for s in standins)
            cpu0, t0 = cpu_seconds(op.pid), time.monotonic()
            time.sleep(seconds)
            elapsed = time.monotonic() - t0
            cpu = (cpu_seconds(op.pid) - cpu0) / elapsed * 100
            reads = sum(s.reads for s in standins) - reads0
            polls = elapsed / POLL_SECONDS  # the polls due in the window
            requests = op.audit.changes()
            # A liveness failure on one Pod of each node: how soon the status shows it.
            began = time.perf_counter()
            changed = [standin.pods[next(iter(standin.pods))] for standin in standins]
            for pod in changed:
                pod.failed["Liveness"] = 1
            hds = Watcher(self.custom.list_namespaced_custom_object, group=GROUP,
                          version=VERSION, namespace=ns, plural=PLURAL)  # fmt: skip
            try:
                names = [pod.name.removesuffix("-webapp") for pod in changed]
                seen = hds.wait_for_each({n: failed_once(n) for n in names}, timeout=60)
                latencies = [at - began for at in seen.values()]
            finally:
                hds.stop()
            return {
                "pods": len(pods),
                "nodes": nodes,
                "seconds": elapsed,
                "cpu_percent": cpu,
                "reads_per_node_per_poll": reads / nodes / polls,
                "api_requests": len(requests),
                "text_kb_per_node": len(probes_text(list(standins[0].pods.values()))) / 1000,
                "failure_to_status_s": summary(latencies),
            }
        finally:
            for standin in standins:
                standin.stop()
            # The HealthDemos first (or the operator would create their Pods again); then their
            # Pods, which on a Node with no kubelet never finish terminating: forced.
            self.custom.delete_collection_namespaced_custom_object(GROUP, VERSION, ns, PLURAL)
            self.core.delete_collection_namespaced_pod(ns, grace_period_seconds=0)
            for standin in standins:
                standin.unregister(self.core)

    # -- event storm -------------------------------------------------------------------------

    def storm(
        self,
        op: Contender,
        ns: str,
        per_minute: int,
        seconds: float,
        idle_s: float,
        *,
        container: str,
    ) -> dict[str, Any]:
        """Kubelet Events about unrelated Pods' `container`, `per_minute` for `seconds`, while
        the operator has nothing to do: its CPU during the storm against its CPU idle before."""
        bystanders = []
        for n in range(20):
            pod = self.core.create_namespaced_pod(
                ns,
                {
                    "metadata": {"name": f"bystander-{n}"},
                    "spec": {"containers": [{"name": container, "image": "nginx:latest"}]},
                },
            )
            bystanders.append((pod.metadata.name, pod.metadata.uid, container))
        time.sleep(2)
        op.audit.mark()
        cpu0, t0 = cpu_seconds(op.pid), time.monotonic()
        time.sleep(idle_s)
        idle_cpu = (cpu_seconds(op.pid) - cpu0) / (time.monotonic() - t0) * 100
        idle_requests = len(op.audit.changes())

        total = round(per_minute * seconds / 60)
        interval = 60 / per_minute
        failed = 0
        op.audit.mark()
        cpu0, t0 = cpu_seconds(op.pid), time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            futures = []
            for n in range(total):
                delay = t0 + n * interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                futures.append(pool.submit(self._unrelated_event, ns, *bystanders[n % 20], n))
            for future in futures:
                failed += future.exception() is not None
        sent_s = time.monotonic() - t0
        storm_cpu = (cpu_seconds(op.pid) - cpu0) / sent_s * 100
        cpu1, t1 = cpu_seconds(op.pid), time.monotonic()
        time.sleep(5)  # the tail: what was still queued when the last Event was written
        tail_cpu = (cpu_seconds(op.pid) - cpu1) / (time.monotonic() - t1) * 100
        return {
            "events_sent": total - failed,
            "events_failed": failed,
            "seconds": sent_s,
            "events_per_minute": (total - failed) / sent_s * 60,
            "idle_seconds_before": idle_s,
            "idle_cpu_percent_before": idle_cpu,
            "idle_requests_before": idle_requests,
            "storm_cpu_percent": storm_cpu,
            "tail_5s_cpu_percent": tail_cpu,
            "requests_during_storm": len(op.audit.changes()),
            "rss_mb_after_storm": rss_mb(op.pid),
        }

    STORM_EVENTS = (
        ("Unhealthy", "Warning", "Liveness probe failed: HTTP probe failed with statuscode: 500"),
        ("Killing", "Normal", "Container app failed liveness probe, will be restarted"),
        ("Pulled", "Normal", 'Container image "nginx:latest" already present on machine'),
        ("Created", "Normal", "Created container: app"),
        ("Started", "Normal", "Started container app"),
    )

    def _unrelated_event(self, ns: str, pod: str, uid: str, container: str, n: int) -> None:
        reason, kind, message = self.STORM_EVENTS[n % len(self.STORM_EVENTS)]
        now = stamp()
        body = {
            "metadata": {"generateName": f"{pod}."},
            "involvedObject": {"kind": "Pod", "name": pod, "namespace": ns, "uid": uid,
                               "apiVersion": "v1", "fieldPath": f"spec.containers{{{container}}}"},
            "reason": reason, "type": kind, "message": message,
            "source": {"component": "kubelet", "host": "storm-node"}, "count": 1,
            "firstTimestamp": now, "lastTimestamp": now,
        }  # fmt: skip
        self.core.create_namespaced_event(ns, body, _preload_content=False).read()


@contextmanager
def environment(workdir: Path) -> Iterator[Bench]:
    plane = bringup.start_plane(bringup.find_binaries(), workdir=workdir / "cp")
    try:
        bringup.install(plane)
        if plane.audit_log is None:
            raise RuntimeError("the benchmark counts requests in the audit log")
        operator = bringup.local_operator(plane, workdir / "operator.log")  # run() starts it
        try:
            yield Bench(plane, operator, Audit(plane.audit_log), workdir)
        finally:
            operator.stop()
    finally:
        plane.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--operators", default="ours,kopf,go", help="which, in order: ours,kopf,go")
    parser.add_argument("--reaction", type=int, default=200, help="CRs for the reaction test")
    parser.add_argument("--live", type=int, default=100, help="live HealthDemos for recording")
    parser.add_argument("--scale", type=int, default=1000, help="HealthDemos for the scale test")
    parser.add_argument("--idle", type=float, default=30, help="seconds of each idle window")
    parser.add_argument("--kubelet-nodes", type=int, default=10, help="0: no kubelet stand-ins")
    parser.add_argument("--kubelet-seconds", type=float, default=30, help="polling measured")
    parser.add_argument("--storm-rate", type=int, default=10_000, help="unrelated Events/minute")
    parser.add_argument("--storm-seconds", type=float, default=60, help="0: no storm")
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "operator.json"))
    args = parser.parse_args()
    keys = [key.strip() for key in args.operators.split(",") if key.strip()]
    if unknown := set(keys) - set(OPERATORS):
        parser.error(f"unknown operators: {', '.join(sorted(unknown))}")

    machine = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    sizes = {k: getattr(args, k) for k in ("reaction", "live", "scale", "idle", "kubelet_nodes")}
    sizes |= {"storm_rate": args.storm_rate, "storm_seconds": args.storm_seconds}
    results: dict[str, Any] = {"machine": machine, "sizes": sizes, "operators": {}}
    workdir = Path(tempfile.mkdtemp(prefix="healthdemo-bench-"))
    began = time.monotonic()
    with environment(workdir) as bench:
        for key in keys:
            print(f"-- {OPERATORS[key]} --", flush=True)
            op = bench.contender(key)
            try:
                results["operators"][key] = bench.run(op, args)
            except Exception as exc:  # one operator failing still leaves the others' numbers
                results["operators"][key] = {"user": op.user, "error": repr(exc)}
                print(f"   {OPERATORS[key]} failed: {exc!r}", flush=True)
    results["total_s"] = time.monotonic() - began
    print()
    print_table(results)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=2))
    print(f"\nJSON: {args.json}  (work directory with logs: {workdir})")


def _at(result: dict[str, Any], path: str) -> Any:
    value: Any = result
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _pair(result: dict[str, Any], a: str, b: str, fmt: str) -> str:
    x, y = _at(result, a), _at(result, b)
    return "—" if x is None or y is None else f"{x:{fmt}} / {y:{fmt}}"


def _one(result: dict[str, Any], path: str, fmt: str) -> str:
    x = _at(result, path)
    return "—" if x is None else f"{x:{fmt}}"


def print_table(results: dict[str, Any]) -> None:
    s = results["sizes"]
    rows: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("its Pod as specified (image, probe, owner)", lambda r: _one(r, "reaction.pod_check", "")),
        (f"reaction ({s['reaction']} CRs): bare Pod p50/p99 ms",
         lambda r: _pair(r, "reaction.bare_pod.p50_ms", "reaction.bare_pod.p99_ms", ".1f")),
        ("reaction: CR → its Pod p50/p99 ms",
         lambda r: _pair(r, "reaction.operator.p50_ms", "reaction.operator.p99_ms", ".1f")),
        ("reaction ratio to bare Pod p50/p99 x",
         lambda r: _pair(r, "reaction.ratio_p50", "reaction.ratio_p99", ".2f")),
        ("  CR create call / our Pod created directly p50 ms",
         lambda r: _pair(r, "reaction.cr_create_call.p50_ms", "reaction.our_pod_direct.p50_ms",
                         ".1f")),
        (f"recording ({s['live']} live): restart → status p50/p99 ms",
         lambda r: _pair(r, "recording.restart_to_status.p50_ms",
                         "recording.restart_to_status.p99_ms", ".1f")),
        ("  of which: the reconcile (status write included), mean ms",
         lambda r: _one(r, "recording.reconcile_mean_ms", ".1f")),
        ("status PATCHes per restart",
         lambda r: _one(r, "recording.status_patches_per_restart", ".2f")),
        (f"scale ({s['scale']} HDs): create → settled s",
         lambda r: _one(r, "scale.create_to_settled_s", ".1f")),
        ("requests per HealthDemo (creating)",
         lambda r: _one(r, "scale.requests_per_healthdemo", ".2f")),
        ("RSS after settled MB", lambda r: _one(r, "scale.rss_mb", ".1f")),
        (f"idle CPU % ({s['idle']:.0f} s)", lambda r: _one(r, "scale.idle_cpu_percent", ".2f")),
        (f"idle requests ({s['idle']:.0f} s)", lambda r: _one(r, "scale.idle_requests", "d")),
        ("requests per change (a restart)", lambda r: _one(r, "scale.requests_per_change", ".2f")),
        ("operator restart → settled s", lambda r: _one(r, "scale.restart_settle_s", ".1f")),
        ("operator restart → a new HealthDemo's Pod s",
         lambda r: _one(r, "scale.restart_first_reaction_s", ".1f")),
        ("requests after restart", lambda r: _one(r, "scale.restart_requests", "d")),
        ("RSS after restart MB", lambda r: _one(r, "scale.rss_mb_after_restart", ".1f")),
        ("kubelet stand-ins: Pods / nodes",
         lambda r: _pair(r, "kubelets.pods", "kubelets.nodes", ".0f")),
        ("  polling them: CPU % / reads per node per poll",
         lambda r: _pair(r, "kubelets.cpu_percent", "kubelets.reads_per_node_per_poll", ".2f")),
        ("  API requests while polling",
         lambda r: _one(r, "kubelets.api_requests", "d")),
        ("  a liveness failure → status p50/max ms",
         lambda r: _pair(r, "kubelets.failure_to_status_s.p50_ms",
                         "kubelets.failure_to_status_s.max_ms", ".0f")),
        ("storm: unrelated Events sent, per min",
         lambda r: _pair(r, "storm.events_sent", "storm.events_per_minute", ".0f")),
        ("storm: CPU % idle before / during",
         lambda r: _pair(r, "storm.idle_cpu_percent_before", "storm.storm_cpu_percent", ".2f")),
        ("storm: CPU % in the 5 s after", lambda r: _one(r, "storm.tail_5s_cpu_percent", ".2f")),
        ("storm: requests during", lambda r: _one(r, "storm.requests_during_storm", "d")),
        ("RSS after storm MB", lambda r: _one(r, "storm.rss_mb_after_storm", ".1f")),
        ("lookalike storm (containers named webapp): CPU % idle / during",
         lambda r: _pair(r, "storm_lookalike.idle_cpu_percent_before",
                         "storm_lookalike.storm_cpu_percent", ".2f")),
        ("RSS after lookalike storm MB",
         lambda r: _one(r, "storm_lookalike.rss_mb_after_storm", ".1f")),
    ]  # fmt: skip
    ops = results["operators"]
    width = max(len(label) for label, _ in rows)
    print(f"{'':<{width}}  " + "  ".join(f"{OPERATORS[k]:>17}" for k in ops))
    for label, cell in rows:
        print(f"{label:<{width}}  " + "  ".join(f"{cell(ops[k]):>17}" for k in ops))
    for key, result in ops.items():
        if "error" in result:
            print(f"{OPERATORS[key]}: FAILED {result['error']}")


if __name__ == "__main__":
    main()
