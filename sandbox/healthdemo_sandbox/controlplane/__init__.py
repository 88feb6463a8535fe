"""etcd + kube-apiserver + kube-controller-manager on loopback: a real control plane for tests.

The class lives in `plane`, one module per component beside it; re-exported here because
`ControlPlane` is what every caller wants.
"""

from healthdemo_sandbox.controlplane.plane import ControlPlane
from healthdemo_sandbox.controlplane.processes import ProcessFailed

__all__ = ["ControlPlane", "ProcessFailed"]
