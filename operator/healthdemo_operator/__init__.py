"""The HealthDemo operator: runs the demo webapp with the probes a HealthDemo asks for, and
records what the kubelet does about them in the HealthDemo's status.

Pure logic (pod spec, validation, status from pod + events) lives in `podspec`, `observations`
and `recording`; Kubernetes I/O in `kube`; Kopf wiring in `handlers`.
"""

__version__ = "0.1.0"
