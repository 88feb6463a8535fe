"""`python -m webapp.check liveness|readiness|startup`: the exec probe's command, in the image.

The kubelet runs it in the container at every probe; exit 0 is a success. It asks the running
app the same question its HTTP endpoint answers, so one switch (/start-failing,
/readyz/disable, the startup delay) breaks every kind of probe alike, and the app counts the
answer as the kubelet's. Standard library only: it must start well inside timeoutSeconds.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

from webapp import __version__
from webapp.config import DEFAULT_PORT

PATHS = {"liveness": "/healthz", "readiness": "/readyz", "startup": "/startupz"}
USER_AGENT = f"healthdemo-exec-check/{__version__}"  # webapp.probes.EXEC_CHECK


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in PATHS:
        sys.stderr.write(f"usage: python -m webapp.check {'|'.join(PATHS)}\n")
        return 2
    url = f"http://127.0.0.1:{os.environ.get('PORT', DEFAULT_PORT)}{PATHS[argv[0]]}"
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        # http://127.0.0.1 only; no timeout here: the kubelet enforces the probe's own.
        with urllib.request.urlopen(request) as response:  # noqa: S310
            sys.stdout.write(response.read().decode(errors="replace"))
            return 0
    except urllib.error.HTTPError as failed:
        sys.stdout.write(failed.read().decode(errors="replace"))
        return 1
    except OSError as unreachable:
        sys.stdout.write(f"{argv[0]} check: {url}: {unreachable}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
