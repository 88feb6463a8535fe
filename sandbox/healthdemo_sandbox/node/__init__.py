"""A real node on this host (containerd + kubelet + kube-scheduler + kube-proxy).

The class lives in `node`, the host checks in `host`, the state directory in `statedir`; the
names callers use are re-exported here.
"""

from healthdemo_sandbox.node.cleanup import Leftovers
from healthdemo_sandbox.node.host import NodeBusy, NodeUnavailable, host_address, require
from healthdemo_sandbox.node.node import Node, controllers
from healthdemo_sandbox.node.statedir import default_state_dir, scope_for

__all__ = [
    "Leftovers",
    "Node",
    "NodeBusy",
    "NodeUnavailable",
    "controllers",
    "default_state_dir",
    "host_address",
    "require",
    "scope_for",
]
