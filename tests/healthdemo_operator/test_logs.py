"""The operator's log: one line per thing a user cares about, Kopf's per-handler chatter only with
--verbose/--debug. Kopf's own logging set-up (what `kopf run` does with those flags) is used."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from healthdemo_operator.logs import KOPF_CHATTER, quiet_kopf, story_line
from healthdemo_operator.status.recording import Notice
from kopf._core.actions import loggers


@pytest.fixture(autouse=True)
def restored() -> Iterator[None]:
    """Kopf configures the root logger: put everything back for the other tests."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in KOPF_CHATTER}
    yield
    root.handlers[:], root.level = handlers, level
    for name, was in levels.items():
        logging.getLogger(name).setLevel(was)


def passes(name: str, level: int) -> bool:
    return logging.getLogger(name).isEnabledFor(level)


def test_by_default_kopfs_handler_lines_are_dropped_and_its_warnings_kept() -> None:
    loggers.configure()  # kopf run: INFO
    quiet_kopf()
    assert not passes("kopf.objects", logging.INFO)  # "Handler '...' succeeded." per event
    assert not passes("kopf.activities.startup", logging.INFO)
    assert not passes("aiohttp.access", logging.INFO)  # the kubelet probing the operator
    assert passes("kopf.objects", logging.WARNING)
    assert passes("healthdemo_operator.controller", logging.INFO)  # the story lines


@pytest.mark.parametrize("flag", ["verbose", "debug"])
def test_with_verbose_or_debug_everything_stays(flag: str) -> None:
    loggers.configure(verbose=flag == "verbose", debug=flag == "debug")
    quiet_kopf()
    assert passes("kopf.objects", logging.INFO) and passes("kopf.objects", logging.DEBUG)


def test_a_story_line_names_the_healthdemo_and_says_what_happened() -> None:
    notice = Notice("Normal", "Restarted", "Container restarted (LivenessProbe): restarts now 1")
    assert story_line("team-a", "demo", notice) == (
        "team-a/demo: Restarted: Container restarted (LivenessProbe): restarts now 1"
    )
