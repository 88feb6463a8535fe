"""Which cluster, user and namespace — by kubectl's rules, with the official client's loader:
`--kubeconfig` alone if given, else the files in $KUBECONFIG merged, else ~/.kube/config, else
the Pod's ServiceAccount when run in a cluster; `--context` picks a context; the namespace is
`-n`, else the context's, else "default"."""

from __future__ import annotations

import os
from pathlib import Path

from kubernetes import client, config
from kubernetes.config import incluster_config, kube_config

from kubectl_healthdemo.api import Api
from kubectl_healthdemo.errors import ConfigError

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def _in_cluster(kubeconfig: str | None) -> bool:
    """No kubeconfig anywhere, but a Pod's ServiceAccount: kubectl uses that too."""
    if kubeconfig or os.environ.get("KUBECONFIG"):
        return False
    if Path(kube_config.KUBE_CONFIG_DEFAULT_LOCATION).expanduser().exists():
        return False
    return bool(os.environ.get(incluster_config.SERVICE_HOST_ENV_NAME))


def connect(kubeconfig: str | None, context: str | None, namespace: str | None) -> Api:
    """The API of the chosen cluster, as the chosen user, in the chosen namespace."""
    if kubeconfig and not Path(kubeconfig).expanduser().is_file():
        raise ConfigError(f"--kubeconfig {kubeconfig}: no such file")
    try:
        if _in_cluster(kubeconfig):
            configuration = client.Configuration()
            config.load_incluster_config(client_configuration=configuration)
            ns = namespace or SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
            return Api(client.ApiClient(configuration), ns or "default")
        contexts, active = config.list_kube_config_contexts(config_file=kubeconfig)
        if context is not None:
            chosen = next((c for c in contexts if c.get("name") == context), None)
            if chosen is None:
                names = ", ".join(str(c.get("name")) for c in contexts) or "none"
                raise ConfigError(f"--context {context}: not in the kubeconfig (it has: {names})")
            active = chosen
        ns = namespace or (active.get("context") or {}).get("namespace") or "default"
        api_client = config.new_client_from_config(
            config_file=kubeconfig, context=context, persist_config=False
        )
    except config.ConfigException as exc:
        where = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
        raise ConfigError(f"kubeconfig {where}: {exc}") from None
    return Api(api_client, str(ns))
