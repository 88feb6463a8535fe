"""TLS client contexts for the servers we start: trust our CA, or (health checks only) anyone."""

from __future__ import annotations

import ssl


def trusting(ca_pem: bytes) -> ssl.SSLContext:
    """Verifies servers whose certificate our cluster CA issued (API server, kubelet)."""
    return ssl.create_default_context(cadata=ca_pem.decode())


def unverified() -> ssl.SSLContext:
    """For /healthz of kube-controller-manager and kube-scheduler only: their serving certificate
    is self-signed in memory, so there is nothing to verify against; no secrets are sent."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
