"""The iptables rules a node leaves behind, found in `iptables-save` output and removed atomically.

Ours are: every KUBE-* chain (kube-proxy's Service rules, the kubelet's canaries and
KUBE-FIREWALL) and the CNI plugins' per-Pod chains for our network, which carry the comment
`name: "<network>"` (bridge's ipMasq chain, portmap's CNI-DN-*). Rules in other chains that jump
to ours or carry our comment go too. podman's chains (CNI-FORWARD, CNI-ADMIN, and the shared
CNI-HOSTPORT-* chains when podman made them) are left alone. One `iptables-restore --noflush`
transaction per family removes everything at once. Every KUBE-* chain counts as ours: this
assumes no other Kubernetes (kind, minikube) runs on the same host; the host lock rules out a
second node of ours.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field

FAMILIES = ("iptables", "ip6tables")
KUBE_PREFIX = "KUBE-"
# portmap's chains, shared by every CNI network on the host (podman's too).
SHARED_CNI_CHAINS = ("CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-MASQ", "CNI-HOSTPORT-SETMARK")


@dataclass
class Table:
    name: str
    chains: list[str] = field(default_factory=list)  # user-defined chains, in save order
    rules: list[tuple[str, str]] = field(default_factory=list)  # (chain, "-A chain ..." line)


def save(family: str) -> dict[str, Table]:
    """`<family>-save`, parsed; empty if the tool is missing."""
    if shutil.which(f"{family}-save") is None:
        return {}
    out = subprocess.run(
        [f"{family}-save"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    return parse(out)


def parse(text: str) -> dict[str, Table]:
    tables: dict[str, Table] = {}
    current: Table | None = None
    for line in text.splitlines():
        if line.startswith("*"):
            current = tables.setdefault(line[1:], Table(line[1:]))
        elif current is None:
            continue
        elif line.startswith(":"):
            chain, policy = line[1:].split()[:2]
            if policy == "-":  # built-in chains have a policy (ACCEPT/DROP)
                current.chains.append(chain)
        elif line.startswith("-A "):
            current.rules.append((line.split()[1], line))
    return tables


def _target(rule: str) -> str | None:
    words = shlex.split(rule)
    for flag in ("-j", "--jump", "-g", "--goto"):
        if flag in words[:-1]:
            return words[words.index(flag) + 1]
    return None


def _marker(network: str) -> str:
    # As iptables-save prints the CNI plugins' comment: --comment "name: \"net\" id: \"...\""
    return f'name: \\"{network}\\"'


def ours(table: Table, network: str, shared: Iterable[str] = ()) -> tuple[list[str], list[str]]:
    """(rules to delete, chains to flush and delete) in `table` that belong to a node.

    `shared` names portmap's shared chains that a node created (they did not exist before it);
    they go only if no other network still has rules in them.
    """
    marker = _marker(network)
    chains = {c for c in table.chains if c.startswith(KUBE_PREFIX)}
    for chain, rule in table.rules:
        if marker in rule:
            target = _target(rule)
            if target and target.startswith("CNI-") and target not in SHARED_CNI_CHAINS:
                chains.add(target)
            if chain.startswith("CNI-") and chain not in SHARED_CNI_CHAINS:
                chains.add(chain)
    removable_shared = [c for c in shared if c in table.chains]
    others_in_shared = any(
        chain in SHARED_CNI_CHAINS and marker not in rule and 'name: \\"' in rule
        for chain, rule in table.rules
    )
    if removable_shared and not others_in_shared:
        chains.update(removable_shared)
    rules = [
        rule
        for chain, rule in table.rules
        if chain not in chains and (marker in rule or _target(rule) in chains)
    ]
    return rules, [c for c in table.chains if c in chains]


def restore_script(tables: dict[str, Table], network: str, shared: Iterable[str] = ()) -> str:
    """The `iptables-restore --noflush` input that deletes our rules and chains ('' if none)."""
    blocks = []
    shared = list(shared)
    for table in tables.values():
        rules, chains = ours(table, network, shared)
        if not rules and not chains:
            continue
        lines = [f"*{table.name}"]
        lines += ["-D" + rule[2:] for rule in rules]
        lines += [f"-F {chain}" for chain in chains]
        lines += [f"-X {chain}" for chain in chains]
        blocks.append("\n".join([*lines, "COMMIT"]))
    return "\n".join(blocks) + "\n" if blocks else ""


def remove(network: str, shared: Iterable[str] = ()) -> list[str]:
    """Delete our rules and chains in both families; returns what was removed, for the log."""
    removed: list[str] = []
    shared = list(shared)
    for family in FAMILIES:
        tables = save(family)
        script = restore_script(tables, network, shared)
        if not script:
            continue
        result = subprocess.run(
            [f"{family}-restore", "--noflush"],
            input=script,
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{family}-restore failed: {result.stderr.strip()}\n{script}")
        removed += [
            f"{family} {line}" for line in script.splitlines() if line.startswith(("-X", "-D"))
        ]
    return removed


def leftovers(network: str, shared: Iterable[str] = ()) -> list[str]:
    """'family table chain' for each chain of ours still present (rules count via their chain)."""
    found: list[str] = []
    shared = list(shared)
    for family in FAMILIES:
        for table in save(family).values():
            rules, chains = ours(table, network, shared)
            found += [f"{family} {table.name} {chain}" for chain in chains]
            found += [f"{family} {table.name} rule: {rule}" for rule in rules]
    return found


def shared_chains_present() -> list[str]:
    """portmap's shared chains that exist now (recorded before a node starts)."""
    present: set[str] = set()
    for family in FAMILIES:
        for table in save(family).values():
            present.update(c for c in table.chains if c in SHARED_CNI_CHAINS)
    return sorted(present)
