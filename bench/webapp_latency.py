"""Webapp numbers for the README: /healthz latency (idle and under load) and SIGTERM exit time.

Run: .venv/bin/python bench/webapp_latency.py [--clients 200] [--seconds 10] [--json out.json]
Starts `python -m webapp` on a free loopback port; prints a table and optionally writes JSON.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time

from healthdemo_sandbox.ports import free_port


def start(port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "webapp"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            get(port, "/healthz", timeout=1)
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("webapp did not start")


def get(port: int, path: str, timeout: float = 5) -> float:
    """One request on a fresh connection, as the kubelet's prober makes it; returns seconds."""
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"User-Agent": "kube-probe/1.34"})
        conn.getresponse().read()
    finally:
        conn.close()
    return time.perf_counter() - start


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def probe_latencies(port: int, count: int) -> list[float]:
    return [get(port, "/healthz") for _ in range(count)]


def under_load(port: int, clients: int, seconds: float) -> tuple[list[float], int, int]:
    """`clients` threads hammer GET / while a prober hits /healthz 10x/s; returns probe latencies,
    load requests done, and load errors."""
    stop = threading.Event()
    done = [0]
    errors = [0]
    lock = threading.Lock()

    def hammer() -> None:
        while not stop.is_set():
            try:
                get(port, "/", timeout=10)
                with lock:
                    done[0] += 1
            except OSError:
                with lock:
                    errors[0] += 1

    threads = [threading.Thread(target=hammer, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    latencies = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            latencies.append(get(port, "/healthz", timeout=5))
        except OSError:
            latencies.append(float("inf"))
        time.sleep(0.1)
    stop.set()
    for thread in threads:
        thread.join(timeout=15)
    return latencies, done[0], errors[0]


def sigterm_exit(port: int) -> tuple[float, int]:
    proc = start(port)
    started = time.perf_counter()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=30)
    return time.perf_counter() - started, code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    port = free_port()
    proc = start(port)
    try:
        idle = probe_latencies(port, 500)
        loaded, load_done, load_errors = under_load(port, args.clients, args.seconds)
    finally:
        proc.kill()
        proc.wait()
    exits = [sigterm_exit(free_port()) for _ in range(5)]

    results = {
        "healthz_idle_ms": {
            "p50": percentile(idle, 0.5) * 1000,
            "p99": percentile(idle, 0.99) * 1000,
            "n": len(idle),
        },
        "healthz_under_load_ms": {
            "p50": percentile(loaded, 0.5) * 1000,
            "p99": percentile(loaded, 0.99) * 1000,
            "max": max(loaded) * 1000,
            "n": len(loaded),
            "clients": args.clients,
            "load_requests": load_done,
            "load_errors": load_errors,
        },
        "sigterm_exit_s": {
            "median": statistics.median(t for t, _ in exits),
            "max": max(t for t, _ in exits),
            "exit_codes": sorted({c for _, c in exits}),
        },
    }
    idle_ms = results["healthz_idle_ms"]
    load_ms = results["healthz_under_load_ms"]
    term = results["sigterm_exit_s"]
    print(f"{'measure':<44} {'value':>12}")
    print(f"{'/healthz idle p50 / p99 (ms)':<44} {idle_ms['p50']:>5.2f} / {idle_ms['p99']:.2f}")
    print(
        f"{f'/healthz with {args.clients} clients on / p50 / p99 (ms)':<44} "
        f"{load_ms['p50']:>5.1f} / {load_ms['p99']:.1f}  (max {load_ms['max']:.1f}, "
        f"{load_done} load requests, {load_errors} errors)"
    )
    print(
        f"{'SIGTERM -> exit, median / max (s)':<44} {term['median']:>5.3f} / {term['max']:.3f}"
        f"  (exit codes {term['exit_codes']})"
    )
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=2)


if __name__ == "__main__":
    main()
