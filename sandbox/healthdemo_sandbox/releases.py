"""The Kubernetes releases the sandbox and the tests run, and everything that differs between them.

One table, `RELEASES`: each row names a release whose binaries `sandbox/kubebin` builds from its
own pinned build list (`sandbox/kubebin/releases/<version>.mod`), and the few settings that are
not the same on every release. Code asks the selected `Release` instead of comparing versions.

`KUBE_VERSION` in the environment picks one (`make sandbox KUBE_VERSION=v1.35.4`); unset or empty
means the newest. An unknown version is one clear error naming the supported ones.

`python -m healthdemo_sandbox.releases [newest|oldest|all|check VERSION]` prints them for the
Makefile and CI.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

ENV = "KUBE_VERSION"


@dataclass(frozen=True)
class Release:
    """One supported Kubernetes release, as this project builds and runs it."""

    version: str
    # The API server's service proxy (`kubectl get --raw /api/v1/namespaces/<ns>/services/<name>:
    # <port>/proxy/...`, how `make sandbox` and the tests read the operator's /metrics) looks the
    # Service's addresses up in the legacy Endpoints until 1.36 and in EndpointSlices from 1.37;
    # without an endpoints controller it answers 404 `services "<name>" not found`.
    service_proxy_reads_endpoints: bool
    # A restart rule's action RestartAllContainers (RestartAllContainersOnContainerExits): alpha
    # and off in 1.35, where the API server refuses it; beta and on by default from 1.36.
    restart_all_containers: bool

    @property
    def minor(self) -> str:
        """ "1.37" for v1.37.2: what kubectl's skew policy and user agents speak of."""
        return ".".join(self.version.removeprefix("v").split(".")[:2])

    @property
    def kubectl_skew(self) -> str:
        """The kubectl releases that may talk to this API server: one minor older or newer."""
        major, minor = (int(part) for part in self.minor.split("."))
        return f"{major}.{minor - 1}-{major}.{minor + 1}"


RELEASES = (
    Release("v1.35.4", service_proxy_reads_endpoints=True, restart_all_containers=False),
    Release("v1.36.3", service_proxy_reads_endpoints=True, restart_all_containers=True),
    Release("v1.37.2", service_proxy_reads_endpoints=False, restart_all_containers=True),
)
NEWEST = RELEASES[-1]
OLDEST = RELEASES[0]


class UnsupportedRelease(ValueError):
    """A version that is not in `RELEASES`; the message names the supported ones."""


def supported() -> str:
    return ", ".join(r.version + (" (default)" if r is NEWEST else "") for r in RELEASES)


def named(version: str) -> Release:
    for release in RELEASES:
        if release.version == version:
            return release
    raise UnsupportedRelease(
        f"{ENV}={version!r} is not a supported Kubernetes release; supported: {supported()}"
    )


def selected() -> Release:
    """The release `KUBE_VERSION` names, or the newest (read at call time)."""
    return named(os.environ.get(ENV) or NEWEST.version)


def main(argv: list[str]) -> int:
    """For the Makefile: `check ""` is the newest; an unknown version is one line on stderr."""
    match argv:
        case [] | ["newest"]:
            answer = NEWEST.version
        case ["oldest"]:
            answer = OLDEST.version
        case ["all"]:
            answer = " ".join(r.version for r in RELEASES)
        case ["check", version]:
            try:
                answer = named(version or NEWEST.version).version
            except UnsupportedRelease as exc:
                sys.stderr.write(f"{exc}\n")
                return 2
        case _:
            sys.stderr.write(
                "usage: python -m healthdemo_sandbox.releases [newest|oldest|all|check VERSION]\n"
            )
            return 2
    sys.stdout.write(answer + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
