"""What can go wrong, each as one line a user can act on. No third-party imports: the CLI
reports these without loading the API client."""

from __future__ import annotations

USAGE = 2  # exit code of a command line that cannot be run (argparse's, kubectl's)
FAILED = 1  # exit code of everything else that went wrong


class PluginError(Exception):
    """An expected failure: printed as `error: <message>`, exit code `code`."""

    code = FAILED


class UsageError(PluginError):
    code = USAGE


class NoSuchHealthDemo(PluginError):
    pass


class NoPod(PluginError):
    """The HealthDemo has no Pod yet, or its Pod is not running (no IP to proxy to)."""


class NoSidecar(PluginError):
    """`--container sidecar` for a HealthDemo without spec.sidecar."""


class FaultsDisabled(PluginError):
    """The webapp itself refused (WEBAPP_FAULTS=disabled or token), not the API server."""


class Forbidden(PluginError):
    """RBAC refused a call; the message names the verb and resource it needs."""


class WebappError(PluginError):
    """The webapp answered with an error of its own (bad input, no memory limit, ...)."""


class Unreachable(PluginError):
    """No answer: the API server, or the webapp behind the Pod proxy."""


class ConfigError(PluginError):
    """The kubeconfig (or --context) cannot be used."""
