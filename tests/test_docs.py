"""README.md and docs/*.md stay true to the repository: the README short, every relative link,
picture and #anchor resolving, and every command in a bash/sh/console block one this project
provides or uses, with make targets, plugin subcommands and repository paths that exist.
Pure and fast: files only, no server."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from kubectl_healthdemo.lessons import BY_NAME as LESSONS
from kubectl_healthdemo.usage import COMMANDS as PLUGIN_COMMANDS

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 300

# Programs a command in the docs may start: ours, and the tools the docs tell a user to run.
PROGRAMS = frozenset(
    {
        "make", "kubectl", "kopf", "python", "python3", "pip", "git", "bash", "export", "cd",
        "curl", "minikube", "kind", "docker", "podman", "helm", "promtool", "sudo", "watch",
        "kill", "pkill",
    }
)  # fmt: skip
SHELL_BLOCKS = frozenset({"bash", "sh", "shell", "console"})
# An argument starting with one of these names a file or folder of the repository.
REPO_PATHS = (
    ".ci/", "bench/", "crds/", "deploy/", "docs/", "operator/", "plugin/", "sandbox/", "tests/",
    "webapp/", "Dockerfile.",
)  # fmt: skip
OPERATORS = frozenset({"&&", "||", "|", ";", "&"})

FENCE = re.compile(r"^(```+|~~~+)\s*([\w-]*)")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^()\s]+)(?:\s+\"[^\"]*\")?\)")
ENV_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")


def split_fences(text: str) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """The lines outside fenced blocks, and each block as (language, its lines)."""
    prose: list[str] = []
    blocks: list[tuple[str, list[str]]] = []
    fence: str | None = None
    for line in text.splitlines():
        opening = FENCE.match(line.strip())
        if fence is None and opening:
            fence = opening.group(1)
            blocks.append((opening.group(2).lower(), []))
        elif fence is not None and line.strip().startswith(fence):
            fence = None
        elif fence is not None:
            blocks[-1][1].append(line)
        else:
            prose.append(line)
    return prose, blocks


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation but '-' and '_' dropped,
    spaces to '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())  # link text only
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    for line in split_fences(page.read_text())[0]:
        heading = re.match(r"#{1,6}\s+(.+?)\s*#*\s*$", line)
        if heading:
            base = slug(heading.group(1))
            anchor, n = base, 0
            while anchor in found:  # GitHub numbers repeated headings: x, x-1, x-2
                n += 1
                anchor = f"{base}-{n}"
            found.add(anchor)
    return found


def links(page: Path) -> list[str]:
    prose = "\n".join(split_fences(page.read_text())[0])
    prose = re.sub(r"`[^`\n]*`", "", prose)  # code spans hold no links
    return [target for target in LINK.findall(prose) if not re.match(r"[a-z]+:", target)]


def commands(page: Path) -> list[list[str]]:
    """Every command of the page's shell blocks, as words: a logical line (backslash
    continuations joined, `$ ` prompt and comments dropped), split at &&, ||, |, ; and &."""
    found: list[list[str]] = []
    for language, lines in split_fences(page.read_text())[1]:
        if language not in SHELL_BLOCKS:
            continue
        for raw in "\n".join(lines).replace("\\\n", " ").splitlines():
            line = raw.strip().removeprefix("$ ")
            if not line or line.startswith("#"):
                continue
            words = shlex.split(line, comments=True)
            command: list[str] = []
            for word in [*words, ";"]:
                if word in OPERATORS:
                    if command:
                        found.append(command)
                    command = []
                else:
                    command.append(word)
    return found


def make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", text, re.MULTILINE))


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


def test_readme_is_short() -> None:
    lines = len(README.read_text().splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines: move the depth to docs/"


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_links_and_anchors_resolve(page: Path) -> None:
    broken: list[str] = []
    for target in links(page):
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists() or ROOT not in [file, *file.parents]:
            broken.append(f"{target}: no file {path}")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target}: no heading #{anchor} in {file.relative_to(ROOT)}")
    assert not broken, f"{page_id(page)}: {broken}"


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_commands_are_ours_and_name_what_exists(page: Path) -> None:
    targets = make_targets()
    wrong: list[str] = []
    for found in commands(page):
        words = list(found)
        while words and ENV_ASSIGNMENT.match(words[0]):
            words = words[1:]  # KUBECONFIG=... kubectl ...
        if not words:
            continue
        program, args = words[0], words[1:]
        said = shlex.join(found)
        if program not in PROGRAMS and not program.startswith(".venv/bin/"):
            wrong.append(f"{said}: {program} is not a program this project provides or uses")
        if program == "make":
            wrong += [
                f"{said}: no make target {arg}"
                for arg in args
                if not arg.startswith("-") and "=" not in arg and arg not in targets
            ]
        if program == "kubectl" and args[:1] == ["healthdemo"]:
            sub, *rest = [a for a in args[1:] if not a.startswith("-")] or [""]
            if sub not in PLUGIN_COMMANDS:
                wrong.append(f"{said}: the plugin has no command {sub}")
            elif sub == "lesson" and rest[:1] and rest[0] not in LESSONS:
                wrong.append(f"{said}: no lesson {rest[0]}")
        for arg in args:
            path = arg.split("=", 1)[-1]  # --record=tests/... as well
            if path.startswith(REPO_PATHS) and not (ROOT / path).exists():
                wrong.append(f"{said}: no {path} in the repository")
    assert not wrong, f"{page_id(page)}: {wrong}"


def test_the_checks_catch_what_they_should(tmp_path: Path) -> None:
    """The parsing above finds links, anchors and commands where the pages put them."""
    assert slug("`kubectl healthdemo`: break, heal and replay") == (
        "kubectl-healthdemo-break-heal-and-replay"
    )
    assert slug("What a probe protects: the traffic lessons") == (
        "what-a-probe-protects-the-traffic-lessons"
    )
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\nSee [a](other.md#part) and ![p](pic.png), not `[b](c.md)`.\n\n"
        "```bash\n$ KUBECONFIG=x kubectl apply \\\n  -f deploy/ && make test  # why\n"
        "# a comment\n```\n\n```yaml\nnot: [a](b)\n```\n"
    )
    assert links(page) == ["other.md#part", "pic.png"]
    assert commands(page) == [
        ["KUBECONFIG=x", "kubectl", "apply", "-f", "deploy/"],
        ["make", "test"],
    ]
    assert anchors(page) == {"title"}
