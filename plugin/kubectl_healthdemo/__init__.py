"""`kubectl healthdemo`: break, heal and replay a HealthDemo from the terminal.

A kubectl plugin (an executable named `kubectl-healthdemo` on PATH). It reads what the operator
recorded (the HealthDemo's status and Events) and the kubelet's Events, and reaches the webapp
through the API server's Pod proxy, so it needs no port-forward and no network path to Pods.
"""

from __future__ import annotations

__version__ = "0.1.0"
