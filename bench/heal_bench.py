"""Healing on the real node: /start-failing → the Pod is Ready again, against the probe math.

Run (root, like `make sandbox`):  .venv/bin/python bench/heal_bench.py [--trials 5]
      [--period 2] [--threshold 3] [--json bench/results/heal.json]

For each trial a HealthDemo (liveness period P, failureThreshold T, no readiness probe) runs the
webapp; the benchmark breaks it and watches, with 50 ms resolution from this host:
  heal            = /start-failing answered → Pod Ready again
  container start = the old container stops answering → the Pod is Ready again
  limit           = T x P + container start   (the kubelet needs T failed probes, P apart)
and prints heal / limit, plus what the operator recorded (history[0].recoverySeconds).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from healthdemo_sandbox.cluster import Sandbox
from healthdemo_sandbox.paths import ROOT


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=0.5) as response:
            return bool(response.status == 200)
    except urllib.error.HTTPError:
        return True  # it answers (500 while failing): the container is alive
    except OSError:
        return False


def pod(sandbox: Sandbox, name: str, namespace: str) -> dict[str, Any]:
    out = sandbox.running_plane.kubectl("get", "pod", name, "-n", namespace, "-o", "json")
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def ready(p: dict[str, Any]) -> bool:
    conditions = p.get("status", {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def restarts(p: dict[str, Any]) -> int:
    statuses = p.get("status", {}).get("containerStatuses") or [{}]
    return int(statuses[0].get("restartCount", 0))


def trial(
    sandbox: Sandbox, namespace: str, n: int, period: int, threshold: int
) -> dict[str, float]:
    plane = sandbox.running_plane
    name = f"heal-{n}"
    body = {
        "apiVersion": "demo.example.com/v1",
        "kind": "HealthDemo",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"livenessProbe": {"periodSeconds": period, "failureThreshold": threshold}},
    }
    plane.kubectl("apply", "-f", "-", input=json.dumps(body))
    deadline = time.monotonic() + 90
    while True:  # the operator creates the Pod; the kubelet makes it Ready
        found = plane.kubectl(
            "get", "pod", f"{name}-webapp", "-n", namespace, "-o", "json", check=False
        )
        if found.returncode == 0 and ready(json.loads(found.stdout)):
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name}-webapp not Ready")
        time.sleep(0.2)
    ip = pod(sandbox, f"{name}-webapp", namespace)["status"]["podIP"]
    url = f"http://{ip}:5000/healthz"
    time.sleep(period)  # a steady state: probes running
    request = urllib.request.Request(f"http://{ip}:5000/start-failing", method="POST")
    with urllib.request.urlopen(request, timeout=5):
        broke = time.perf_counter()
    gone = None
    while True:
        now = time.perf_counter()
        if gone is None and not answers(url):
            gone = now
        current = pod(sandbox, f"{name}-webapp", namespace)
        if restarts(current) >= 1 and ready(current):
            healed = time.perf_counter()
            break
        if now - broke > 120:
            raise TimeoutError(f"{name} did not heal")
        time.sleep(0.05)
    container_start = healed - (gone or healed)
    limit = threshold * period + container_start
    status: dict[str, Any] = {}
    for _ in range(100):  # what the operator recorded
        out = plane.kubectl("get", "healthdemo", name, "-n", namespace, "-o", "json").stdout
        status = json.loads(out).get("status") or {}
        history = status.get("history") or []
        if history and history[0].get("recoverySeconds") is not None:
            break
        time.sleep(0.1)
    return {
        "heal_s": healed - broke,
        "container_start_s": container_start,
        "limit_s": limit,
        "ratio": (healed - broke) / limit,
        "recorded_recovery_s": float(status["history"][0]["recoverySeconds"]),
        "recorded_probe_failures": float(status["probeFailures"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--period", type=int, default=2)
    parser.add_argument("--threshold", type=int, default=3)
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "heal.json"))
    args = parser.parse_args()
    with Sandbox(demo=False) as sandbox:
        namespace = "bench-heal"
        sandbox.running_plane.kubectl("create", "namespace", namespace)
        trials = [
            trial(sandbox, namespace, n, args.period, args.threshold) for n in range(args.trials)
        ]
    print(
        f"healing over {len(trials)} trials (period {args.period} s, threshold {args.threshold}):"
    )
    print(
        f"{'trial':>5} {'heal s':>8} {'start s':>8} {'limit s':>8} {'ratio':>6} {'recorded s':>10}"
    )
    for n, t in enumerate(trials):
        print(
            f"{n:>5} {t['heal_s']:8.2f} {t['container_start_s']:8.2f} {t['limit_s']:8.2f} "
            f"{t['ratio']:6.2f} {t['recorded_recovery_s']:10.1f}"
        )
    ratios = [t["ratio"] for t in trials]
    summary = {
        "median_ratio": statistics.median(ratios),
        "max_ratio": max(ratios),
        "median_heal_s": statistics.median(t["heal_s"] for t in trials),
    }
    print(
        f"median heal {summary['median_heal_s']:.2f} s; heal/limit median "
        f"{summary['median_ratio']:.2f}, max {summary['max_ratio']:.2f}"
    )
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(
        json.dumps(
            {
                "period": args.period,
                "threshold": args.threshold,
                "trials": trials,
                "summary": summary,
            },
            indent=2,
        )
    )
    print(f"JSON: {args.json}")


if __name__ == "__main__":
    main()
