"""The coalescing work queue: one reconcile per burst, one worker per key, delays kept."""

from __future__ import annotations

import asyncio

from healthdemo_operator.workqueue import WorkQueue


async def next_key(queue: WorkQueue[str], within: float) -> str | None:
    try:
        return await asyncio.wait_for(queue.get(), within)
    except TimeoutError:
        return None


def test_a_burst_becomes_one_item() -> None:
    async def scenario() -> None:
        queue: WorkQueue[str] = WorkQueue(coalesce_seconds=0.01)
        for _ in range(5):
            queue.add("a")
        assert await next_key(queue, 1) == "a"
        queue.done("a")
        assert await next_key(queue, 0.1) is None

    asyncio.run(scenario())


def test_added_while_active_comes_back_after_done() -> None:
    async def scenario() -> None:
        queue: WorkQueue[str] = WorkQueue(coalesce_seconds=0)
        queue.add("a")
        assert await next_key(queue, 1) == "a"
        queue.add("a")  # a change arrived during the reconcile
        assert await next_key(queue, 0.05) is None  # never handed to a second worker
        queue.done("a")
        assert await next_key(queue, 1) == "a"

    asyncio.run(scenario())


def test_a_recheck_asked_during_the_reconcile_waits_its_delay() -> None:
    """The hot loop this prevents: a reconcile asking for "again in 5 s" came back at once."""

    async def scenario() -> None:
        queue: WorkQueue[str] = WorkQueue(coalesce_seconds=0)
        queue.add("a")
        assert await next_key(queue, 1) == "a"
        queue.add("a", delay=0.3)
        queue.done("a")
        loop = asyncio.get_running_loop()
        began = loop.time()
        assert await next_key(queue, 0.2) is None
        assert await next_key(queue, 1) == "a"
        assert loop.time() - began >= 0.29

    asyncio.run(scenario())


def test_the_shorter_delay_wins() -> None:
    async def scenario() -> None:
        queue: WorkQueue[str] = WorkQueue(coalesce_seconds=0)
        queue.add("a")
        assert await next_key(queue, 1) == "a"
        queue.add("a", delay=5)
        queue.add("a")  # a real change: as soon as the current reconcile ends
        queue.done("a")
        assert await next_key(queue, 0.5) == "a"

    asyncio.run(scenario())


def test_forget_drops_a_scheduled_recheck() -> None:
    async def scenario() -> None:
        queue: WorkQueue[str] = WorkQueue(coalesce_seconds=0)
        queue.add("a", delay=0.1)
        queue.forget("a")
        assert await next_key(queue, 0.3) is None
        assert len(queue) == 0

    asyncio.run(scenario())
