"""The command line: parse, run one command, report a failure as one line and an exit code.

kubectl runs a plugin as a short-lived process per command, so start-up time is what users
feel: this module imports only the standard library; the API client and rich load when a
command needs them (`--help` and bad arguments never do).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NamedTuple, NoReturn

from kubectl_healthdemo import __version__, usage
from kubectl_healthdemo.errors import PluginError, UsageError
from kubectl_healthdemo.faults import DEFAULT_HOW, Fault, parse_how

COMMANDS = tuple(usage.COMMANDS)
CONTAINERS = ("webapp", "sidecar")  # what break and heal can reach
INTERRUPTED = 130  # as a shell reports a process ended by Ctrl-C


class Parser(argparse.ArgumentParser):
    """argparse, with its complaints as UsageError (one line, our own help pointer)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


class Args(NamedTuple):
    command: str | None
    name: str | None
    fault: Fault
    namespace: str | None
    context: str | None
    kubeconfig: str | None
    help: bool = False
    version: bool = False
    keep: bool = False  # lesson: leave its HealthDemo running
    container: str = "webapp"  # break, heal: the webapp or its sidecar
    replica: int = 0  # break, heal: which of spec.replicas Pods (0: <name>-webapp)


def _flags(parser: argparse.ArgumentParser, *, after_command: bool) -> None:
    """kubectl's flags, accepted before and after the command (after wins)."""
    unset = argparse.SUPPRESS if after_command else None
    parser.add_argument("-n", "--namespace", default=unset)
    parser.add_argument("--context", default=unset)
    parser.add_argument("--kubeconfig", default=unset)
    parser.add_argument(
        "-h", "--help", action="store_true", default=argparse.SUPPRESS if after_command else False
    )


def parser() -> Parser:
    top = Parser(prog="kubectl healthdemo", add_help=False)
    _flags(top, after_command=False)
    top.add_argument("--version", action="store_true")
    commands = top.add_subparsers(dest="command", parser_class=Parser)
    for command in COMMANDS:
        sub = commands.add_parser(command, add_help=False)
        _flags(sub, after_command=True)
        sub.add_argument("name", nargs="?", metavar="NAME")
        if command == "break":
            sub.add_argument("--how", default=DEFAULT_HOW, type=parse_how)
        if command in ("break", "heal"):
            sub.add_argument("--container", default="webapp", choices=CONTAINERS)
            sub.add_argument("--replica", default=0, type=_replica, metavar="N")
        if command == "lesson":
            sub.add_argument("--keep", action="store_true")
    return top


NAMELESS = ("lessons",)


def _replica(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"--replica takes a number (0 is <name>-webapp): {text!r}")
    return int(text)


def parse(argv: Sequence[str]) -> Args:
    """The command line as Args; UsageError for anything that cannot be run."""
    found = parser().parse_args(list(argv))
    command: str | None = found.command
    wants_help = bool(found.help)
    if command in NAMELESS and found.name:
        raise UsageError(f'"{command}" takes no name: kubectl healthdemo {command}')
    if command is not None and command not in NAMELESS and not wants_help and not found.name:
        what = "a lesson" if command == "lesson" else "a HealthDemo"
        raise UsageError(f'"{command}" needs the name of {what}: kubectl healthdemo {command} NAME')
    fault = getattr(found, "how", None) or parse_how(DEFAULT_HOW)
    return Args(
        command=command,
        name=found.name if command else None,
        fault=fault,
        namespace=found.namespace,
        context=found.context,
        kubeconfig=found.kubeconfig,
        help=wants_help,
        version=bool(found.version),
        keep=bool(getattr(found, "keep", False)),
        container=str(getattr(found, "container", "webapp")),
        replica=int(getattr(found, "replica", 0)),
    )


def run(args: Args) -> int:
    """Run a parsed command (it has a name); imports what it needs only now."""
    if args.command == "lessons":
        from kubectl_healthdemo import lessons  # noqa: PLC0415 - a table: no API client

        sys.stdout.write(lessons.listing())
        return 0
    from kubectl_healthdemo import commands  # noqa: PLC0415 - the API client: not for --help
    from kubectl_healthdemo.connect import connect  # noqa: PLC0415

    if args.name is None:  # parse() made sure it is not
        raise UsageError("a HealthDemo name is needed")
    if args.command == "lesson":
        from kubectl_healthdemo import lessons  # noqa: PLC0415

        if args.name not in lessons.BY_NAME:  # before connecting: a typo needs no cluster
            raise UsageError(f"no lesson {args.name!r}: kubectl healthdemo lessons lists them")
    api = connect(args.kubeconfig, args.context, args.namespace)
    if args.command == "break":
        said = commands.break_it(api, args.name, args.fault, args.container, args.replica)
        sys.stdout.write(said + "\n")
        return 0
    if args.command == "heal":
        sys.stdout.write(commands.heal(api, args.name, args.container, args.replica) + "\n")
        return 0
    from rich.console import Console  # noqa: PLC0415 - drawing: only timeline and watch

    from kubectl_healthdemo import render  # noqa: PLC0415

    console = Console()
    if args.command == "lesson":
        from kubectl_healthdemo.lesson_run import run_lesson  # noqa: PLC0415

        return 0 if run_lesson(api, args.name, console, keep=args.keep) else 1
    if args.command == "timeline":
        console.print(render.render(commands.load_timeline(api, args.name)))
        return 0
    from kubectl_healthdemo import watching  # noqa: PLC0415

    try:
        watching.watch(api, args.name, console)
    except KeyboardInterrupt:
        return 0  # Ctrl-C is how a watch ends
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """The `kubectl-healthdemo` executable."""
    try:
        args = parse(sys.argv[1:] if argv is None else argv)
        if args.version:
            sys.stdout.write(f"kubectl-healthdemo {__version__}\n")
            return 0
        if args.help or args.command is None:
            sys.stdout.write(usage.COMMANDS[args.command] if args.command else usage.MAIN)
            return 0
        return run(args)
    except PluginError as exc:
        hint = "\nSee 'kubectl healthdemo --help'." if isinstance(exc, UsageError) else ""
        sys.stderr.write(f"error: {exc}{hint}\n")
        return exc.code
    except KeyboardInterrupt:
        return INTERRUPTED
