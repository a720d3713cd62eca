"""Group commit: calls queued while one runs go together, each caller gets its own answers."""

from __future__ import annotations

import asyncio

import pytest

from rota.errors import InvalidInput, ServerUnavailable
from rota.store.coalesce import Coalescer


class Recorder:
    """A run function that records each batch it was given and waits for a go-ahead."""

    def __init__(self, *, refuse: int | None = None, error: Exception | None = None) -> None:
        self.batches: list[list[int]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self._refuse = refuse
        self._error = error

    async def __call__(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        await self.gate.wait()
        if self._error is not None:
            raise self._error
        if self._refuse is not None and self._refuse in items:
            raise InvalidInput(f"item {self._refuse} is refused")
        return [item * 10 for item in items]


async def test_a_lone_call_runs_at_once() -> None:
    run = Recorder()
    coalescer: Coalescer[int, int] = Coalescer(run)
    assert await coalescer([1, 2]) == [10, 20]
    assert run.batches == [[1, 2]]


async def test_calls_queued_while_one_runs_go_together_in_order() -> None:
    run = Recorder()
    run.gate.clear()
    coalescer: Coalescer[int, int] = Coalescer(run)
    first = asyncio.create_task(coalescer([1]))
    await asyncio.sleep(0)  # the first call is under way, held at the gate
    others = [asyncio.create_task(coalescer([n, n + 1])) for n in (2, 4, 6)]
    await asyncio.sleep(0)
    run.gate.set()
    assert await first == [10]
    assert [await task for task in others] == [[20, 30], [40, 50], [60, 70]]
    assert run.batches == [[1], [2, 3, 4, 5, 6, 7]]


async def test_a_combined_batch_stays_under_its_limit() -> None:
    run = Recorder()
    run.gate.clear()
    coalescer: Coalescer[int, int] = Coalescer(run, max_items=4)
    first = asyncio.create_task(coalescer([0]))
    await asyncio.sleep(0)
    others = [asyncio.create_task(coalescer([n, n])) for n in (1, 2, 3)]
    await asyncio.sleep(0)
    run.gate.set()
    await asyncio.gather(first, *others)
    assert run.batches == [[0], [1, 1, 2, 2], [3, 3]]


async def test_a_refused_call_fails_alone() -> None:
    run = Recorder(refuse=3)
    run.gate.clear()
    coalescer: Coalescer[int, int] = Coalescer(run)
    first = asyncio.create_task(coalescer([1]))
    await asyncio.sleep(0)
    good = asyncio.create_task(coalescer([2]))
    bad = asyncio.create_task(coalescer([3]))
    await asyncio.sleep(0)
    run.gate.set()
    assert await first == [10]
    assert await good == [20]
    with pytest.raises(InvalidInput, match="item 3"):
        await bad
    # Together first, then each alone to find the one at fault.
    assert run.batches == [[1], [2, 3], [2], [3]]


async def test_a_lost_database_fails_every_call_of_the_batch_without_retrying() -> None:
    run = Recorder(error=ServerUnavailable("the database is gone"))
    coalescer: Coalescer[int, int] = Coalescer(run)
    results = await asyncio.gather(coalescer([1]), coalescer([2]), return_exceptions=True)
    assert all(isinstance(result, ServerUnavailable) for result in results)
    assert run.batches == [[1, 2]]  # both queued before the run began; not run again alone


async def test_a_call_cancelled_before_its_turn_is_left_out() -> None:
    run = Recorder()
    run.gate.clear()
    coalescer: Coalescer[int, int] = Coalescer(run)
    first = asyncio.create_task(coalescer([1]))
    await asyncio.sleep(0)
    dropped = asyncio.create_task(coalescer([2]))
    kept = asyncio.create_task(coalescer([3]))
    await asyncio.sleep(0)
    dropped.cancel()
    run.gate.set()
    assert await first == [10]
    assert await kept == [30]
    assert run.batches == [[1], [3]]
