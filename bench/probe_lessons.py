"""Every example in deploy/examples/, on the real node, as its comment says: expected vs measured.

Run (root, like `make sandbox`):  .venv/bin/python bench/probe_lessons.py [--only tcp,oom]

Each lesson applies its example unchanged, does what the comment says (through the Pod IP),
waits for what the comment says will happen, and prints the probe math (status.expected) next
to what the kubelet did (its Pod status) and what the operator recorded.
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.request
from collections.abc import Callable
from datetime import datetime
from typing import Any

import yaml
from healthdemo_sandbox.cluster import Sandbox
from healthdemo_sandbox.paths import ROOT

EXAMPLES = ROOT / "deploy" / "examples"
NAMESPACE = "lessons"


class Lesson:
    def __init__(self, sandbox: Sandbox, example: str) -> None:
        self.plane = sandbox.running_plane
        self.body = yaml.safe_load((EXAMPLES / f"{example}.yaml").read_text())
        self.name = self.body["metadata"]["name"]
        self.plane.kubectl("apply", "-n", NAMESPACE, "-f", str(EXAMPLES / f"{example}.yaml"))

    def get(self, kind: str, name: str) -> dict[str, Any]:
        found = self.plane.kubectl("get", kind, name, "-n", NAMESPACE, "-o", "json", check=False)
        result: dict[str, Any] = json.loads(found.stdout) if found.returncode == 0 else {}
        return result

    def pod(self) -> dict[str, Any]:
        return self.get("pod", f"{self.name}-webapp")

    def container(self) -> dict[str, Any]:
        statuses = self.pod().get("status", {}).get("containerStatuses") or [{}]
        result: dict[str, Any] = statuses[0]
        return result

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = self.get("healthdemo", self.name).get("status") or {}
        return result

    def until(self, check: Callable[[], Any], what: str, timeout: float = 180) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = check()
            if found:
                return found
            time.sleep(0.2)
        raise TimeoutError(f"{self.name}: {what} not within {timeout} s")

    def ready(self) -> bool:
        conditions = self.pod().get("status", {}).get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    def post(self, path: str) -> float:
        ip = self.until(lambda: self.pod().get("status", {}).get("podIP"), "a Pod IP")
        request = urllib.request.Request(f"http://{ip}:5000{path}", method="POST")
        with urllib.request.urlopen(request, timeout=5):
            return time.time()

    def done(self) -> None:
        self.plane.kubectl("delete", "healthdemo", self.name, "-n", NAMESPACE, "--wait=false")


def seconds(a: str | None, b: str | None) -> float | None:
    if not a or not b:
        return None
    return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()


def liveness_kill(sandbox: Sandbox, example: str) -> dict[str, Any]:
    lesson = Lesson(sandbox, example)
    lesson.until(lesson.ready, "Ready")
    time.sleep(4)  # probes running steadily
    broke = lesson.post("/start-failing")
    lesson.until(lambda: lesson.container().get("restartCount", 0) >= 1, "the kill")
    status = lesson.until(lambda: (s := lesson.status()).get("restarts") == 1 and s, "recorded")
    ended = lesson.container()["lastState"]["terminated"]["finishedAt"]
    item = status["history"][0]
    math = status["expected"]["liveness"]
    lesson.done()
    return {
        "lesson": example,
        "expected": f"first failure→kill {math['firstFailureToActSeconds']} s, "
        f"break→kill ≤ {math['breakToActMaxSeconds']} s",
        "measured": f"first failure→kill {item.get('measuredSeconds')} s, break→end "
        f"{datetime.fromisoformat(ended).timestamp() - broke:.1f} s",
        "recorded": f"{item['reason']} ({item['evidence']})",
    }


def slow_without_probe(sandbox: Sandbox) -> dict[str, Any]:
    lesson = Lesson(sandbox, "startup-slow-no-probe")
    lesson.until(lambda: lesson.container().get("restartCount", 0) >= 1, "the first kill")
    status = lesson.until(lambda: (s := lesson.status()).get("restarts", 0) >= 1 and s, "record")
    term = lesson.container()["lastState"]["terminated"]
    lesson.done()
    startup = status["expected"]["startup"]
    return {
        "lesson": "startup-slow-no-probe",
        "expected": f"killed after ~{startup['budgetSeconds']} s of liveness patience "
        f"(app needs {startup['appStartsInSeconds']} s)",
        "measured": f"container lived {seconds(term['startedAt'], term['finishedAt'])} s",
        "recorded": f"{status['history'][-1]['reason']}, ready never",
    }


def slow_with_probe(sandbox: Sandbox) -> dict[str, Any]:
    lesson = Lesson(sandbox, "startup-slow")
    lesson.until(lesson.ready, "Ready", timeout=120)
    pod = lesson.pod()
    started = pod["status"]["containerStatuses"][0]["state"]["running"]["startedAt"]
    ready_at = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
    status = lesson.until(lambda: (s := lesson.status()).get("phase") == "Running" and s, "Run")
    lesson.done()
    startup = status["expected"]["startup"]
    return {
        "lesson": "startup-slow",
        "expected": f"ready after ~{startup['appStartsInSeconds']} s (budget "
        f"{startup['budgetSeconds']} s)",
        "measured": f"ready {seconds(started, ready_at['lastTransitionTime'])} s after start, "
        f"restarts {pod['status']['containerStatuses'][0]['restartCount']}",
        "recorded": f"restarts {status['restarts']}, startup failures {status['startupFailures']}",
    }


def oom(sandbox: Sandbox) -> dict[str, Any]:
    lesson = Lesson(sandbox, "oom")
    lesson.until(lesson.ready, "Ready")
    asked = lesson.post("/oom")
    lesson.until(lambda: lesson.container().get("restartCount", 0) >= 1, "the OOM kill")
    term = lesson.container()["lastState"]["terminated"]
    status = lesson.until(lambda: (s := lesson.status()).get("restarts") == 1 and s, "recorded")
    lesson.done()
    return {
        "lesson": "oom",
        "expected": "OOMKilled within a second or two",
        "measured": f"{term['reason']} exit {term['exitCode']}, "
        f"{datetime.fromisoformat(term['finishedAt']).timestamp() - asked:.1f} s after /oom",
        "recorded": f"{status['history'][0]['reason']} ({status['history'][0]['evidence']})",
    }


def readiness(sandbox: Sandbox) -> dict[str, Any]:
    lesson = Lesson(sandbox, "readiness")
    lesson.until(lesson.ready, "Ready")
    time.sleep(4)
    lesson.post("/readyz/fail-next?count=5")
    status = lesson.until(
        lambda: (
            (s := lesson.status()).get("readiness", {}).get("outOfService") == 1
            and s.get("readinessFailures", 0) >= 5
            and lesson.ready()
            and s
        ),
        "a spell out of service, and back",
    )
    lesson.done()
    period = lesson.body["spec"]["readinessProbe"]["periodSeconds"]
    threshold = lesson.body["spec"]["readinessProbe"]["failureThreshold"]
    return {
        "lesson": "readiness (fail-next 5)",
        # Not (5 - threshold + 1): the kubelet probes again at once when the Pod turns not
        # ready, and that probe uses one of the 5 failures.
        "expected": f"out of service {(5 - threshold) * period} s, no restart",
        "measured": f"out of service {status['readiness'].get('lastOutOfServiceSeconds')} s, "
        f"restarts {lesson.container().get('restartCount')}",
        "recorded": f"readinessFailures {status['readinessFailures']}",
    }


LESSONS: dict[str, Callable[[Sandbox], dict[str, Any]]] = {
    "tcp": lambda s: liveness_kill(s, "tcp"),
    "exec": lambda s: liveness_kill(s, "exec"),
    "grpc": lambda s: liveness_kill(s, "grpc"),
    "startup-slow-no-probe": slow_without_probe,
    "startup-slow": slow_with_probe,
    "oom": oom,
    "readiness": readiness,
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--only", default=",".join(LESSONS))
    args = parser.parse_args()
    rows = []
    with Sandbox(demo=False) as sandbox:
        sandbox.running_plane.kubectl("create", "namespace", NAMESPACE)
        for name in args.only.split(","):
            rows.append(LESSONS[name](sandbox))
            print(rows[-1], flush=True)
    print()
    print("| lesson | expected | measured (kubelet) | recorded (operator) |")
    print("| --- | --- | --- | --- |")
    for row in rows:
        print(f"| {row['lesson']} | {row['expected']} | {row['measured']} | {row['recorded']} |")


if __name__ == "__main__":
    main()
