"""The help texts, in the layout kubectl and krew plugins use (Usage, Commands, Flags, Examples).
Plain strings: `--help` loads nothing else."""

from __future__ import annotations

FLAGS = """\
Flags:
  -n, --namespace NAME    the namespace (default: the kubeconfig context's, else "default")
      --context NAME      the kubeconfig context to use
      --kubeconfig PATH   the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)
  -h, --help              help for kubectl healthdemo (also after a command)
"""

HOWS = """\
Ways to break it (--how):
  start-failing   liveness fails until the kubelet restarts the container (the default)
  fail-next=N     the next N liveness checks fail: fewer than failureThreshold are forgiven
  hang=S          every liveness check takes S seconds: past timeoutSeconds it is a failure
  crash           the process exits with code 1 (reason Crash)
  crash=CODE      the process exits with that code: what a restart rule matches
  oom             it allocates memory until its memory limit kills it (reason OOMKilled)
  readiness-off   readiness fails: out of service, never restarted (heal undoes it)
  readiness-fail-next=N
                  the next N readiness checks fail: fewer than failureThreshold are forgiven
"""

MAIN = f"""\
Break, heal and replay a HealthDemo: what the kubelet did about its probes, and when.

Usage:
  kubectl healthdemo COMMAND NAME [flags]

Commands:
  break NAME [--how HOW] [--container sidecar] [--replica N]
                          break its webapp (or its sidecar), through the API server's Pod proxy
  heal NAME               heal it: liveness ok again (ends fail-next and hang), readiness on
  timeline NAME           its story: probe failures, kill, restart, ready again,
                          with the measured seconds next to the probe math's
  watch NAME              the same, live, until Ctrl-C
  lessons                 the lessons, each one command
  lesson NAME [--keep]    run a lesson: apply, break, follow, verdict, clean up

{HOWS}
{FLAGS}      --version           print the plugin's version

Examples:
  # The seed demo: make liveness fail, then watch the kubelet restart it
  kubectl healthdemo break demo
  kubectl healthdemo watch demo

  # Two failures, fewer than failureThreshold 3: forgiven, no restart
  kubectl healthdemo break demo --how fail-next=2

  # The sidecar lesson: the kubelet restarts the sidecar alone
  kubectl healthdemo break sidecar --container sidecar

  # What happened, in another namespace and cluster
  kubectl healthdemo timeline demo -n team-a --context kind-kind

Permissions (RBAC): get, list, watch healthdemos; list, watch events; break and heal also
get pods and create pods/proxy; lesson also create, patch, delete healthdemos (the ClusterRole
healthdemo-user has exactly these).
"""

COMMANDS = {
    "break": f"""\
Break a HealthDemo's webapp on purpose, through the API server's Pod proxy (no port-forward):
POST /api/v1/namespaces/NS/pods/POD:PORT/proxy/<switch>. Then says what the kubelet should do,
by the HealthDemo's probe math.

Usage:
  kubectl healthdemo break NAME [--how HOW] [--container sidecar] [--replica N] [flags]

{HOWS}
--container sidecar breaks the HealthDemo's sidecar (spec.sidecar, port 5100) instead.
--replica N breaks Pod N of spec.replicas (<name>-webapp-N; 0, the default, is <name>-webapp).

{FLAGS}
Needs: get healthdemos, get pods, create pods/proxy.
""",
    "heal": f"""\
Heal a HealthDemo's webapp without a restart: POST /stop-failing (also ends fail-next and
hang) and POST /readyz/enable, through the API server's Pod proxy.

Usage:
  kubectl healthdemo heal NAME [--container sidecar] [--replica N] [flags]

{FLAGS}
Needs: get healthdemos, get pods, create pods/proxy.
""",
    "timeline": f"""\
A HealthDemo's story as a timeline: probe failures, the kill, the restart and ready again, with
the measured seconds next to the expected ones (status.history and status.expected), told by
the operator's status and Events and the kubelet's Events about the Pod.

Usage:
  kubectl healthdemo timeline NAME [flags]

{FLAGS}
Needs: get healthdemos, list events.
""",
    "watch": f"""\
The timeline, live, until Ctrl-C: redrawn in place on a terminal, appended line by line into
a pipe.

Usage:
  kubectl healthdemo watch NAME [flags]

{FLAGS}
Needs: get, watch healthdemos; list, watch events.
""",
    "lesson": f"""\
Run one lesson from start to verdict: apply its HealthDemo (deploy/'s file), wait until it runs,
break it as the lesson says, follow its timeline, judge what happened against the probe math
(expected vs measured, the causes recorded, counts exact), and delete the HealthDemo.
Exits 0 when every check passed, 1 otherwise.

Usage:
  kubectl healthdemo lesson NAME [--keep] [flags]

      --keep              leave the HealthDemo running afterwards
{FLAGS}
Needs: what break needs, and create, patch (the resize lesson), delete healthdemos.
""",
    "lessons": """\
List the lessons `kubectl healthdemo lesson NAME` runs: what each teaches, its HealthDemo in
deploy/, and the Kubernetes release it needs.

Usage:
  kubectl healthdemo lessons

Needs: nothing: it reads no cluster.
""",
}
