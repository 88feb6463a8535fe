"""`python -m healthdemo_sandbox.node check|clean|build`: a node's leftovers here; its runtime.

`check` lists the leftovers (exit 1 if any); `clean` removes them, as the next start would. Both
refuse while a node is running (it holds the host lock). `build` builds the node's runtime
(containerd, runc) from its Go modules, or says it is built.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from healthdemo_sandbox.binaries import MissingBinaries
from healthdemo_sandbox.node import cleanup, runtime
from healthdemo_sandbox.node.host import HostLock, NodeBusy
from healthdemo_sandbox.node.statedir import default_state_dir, scope_for


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m healthdemo_sandbox.node")
    parser.add_argument("command", choices=("check", "clean", "build"))
    parser.add_argument("--state-dir", type=Path, default=default_state_dir())
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="node: %(message)s")
    if args.command == "build":
        try:
            for name, path in runtime.ensure().items():
                print(f"{name:<24} {path}")
        except MissingBinaries as exc:
            print(f"node: {exc}", file=sys.stderr)
            return 2
        return 0
    scope = scope_for(args.state_dir)
    lock = HostLock()
    try:
        lock.acquire()
    except NodeBusy as exc:
        print(f"node: {exc}", file=sys.stderr)
        return 2
    try:
        if args.command == "clean":
            cleanup.clean(scope)
        left = cleanup.find_leftovers(scope)
    finally:
        lock.release()
    print(f"leftovers: {left}")
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
