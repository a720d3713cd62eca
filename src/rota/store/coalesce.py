"""Group commit: calls that arrive while one is under way go to the database together.

A server settles each worker's results as they come; under load many such calls wait on one
another's round trips. A Coalescer runs one call at a time and hands the next one every item
queued meanwhile, so the number of transactions follows the database's pace, not the number
of callers, while an idle store still runs a lone call at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from rota.errors import ServerUnavailable, StoreClosed

I = TypeVar("I")  # noqa: E741 - an item
R = TypeVar("R")

MAX_ITEMS = 1000
"""The most items one combined call takes; the rest wait for the next."""


@dataclass(slots=True)
class _Call(Generic[I, R]):
    items: list[I]
    answer: asyncio.Future[list[R]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Coalescer(Generic[I, R]):
    """Runs `run` on the items of every call queued while the previous run was under way.

    `run` takes a list of items and returns one answer per item, in order. Each caller gets
    the answers of its own items. When a combined run raises, each of its calls is run
    again alone, so one call's bad input fails that call only; a lost database or a closed
    store (ServerUnavailable, StoreClosed) fails them all, as their outcome is unknown.
    A caller cancelled before its items were taken is left out; once taken, they are applied.
    """

    def __init__(
        self, run: Callable[[list[I]], Awaitable[list[R]]], *, max_items: int = MAX_ITEMS
    ) -> None:
        self._run = run
        self._max_items = max_items
        self._queued: list[_Call[I, R]] = []
        self._leader: asyncio.Task[None] | None = None

    async def __call__(self, items: Sequence[I]) -> list[R]:
        """Run the items with whatever else is queued, and return their answers in order."""
        call: _Call[I, R] = _Call(list(items))
        self._queued.append(call)
        if self._leader is None or self._leader.done():
            self._leader = asyncio.create_task(self._lead(), name="rota-store-coalescer")
        return await call.answer

    async def _lead(self) -> None:
        calls: list[_Call[I, R]] = []
        try:
            while self._queued:
                calls = self._take()
                if calls:
                    await self._run_together(calls)
        except BaseException:  # cancelled (the loop is closing): nobody may wait forever
            for call in [*calls, *self._queued]:
                call.answer.cancel()
            self._queued.clear()
            raise

    def _take(self) -> list[_Call[I, R]]:
        taken: list[_Call[I, R]] = []
        count = 0
        while self._queued:
            call = self._queued[0]
            if call.answer.done():  # cancelled while it waited
                self._queued.pop(0)
                continue
            if taken and count + len(call.items) > self._max_items:
                break
            taken.append(self._queued.pop(0))
            count += len(call.items)
        return taken

    async def _run_together(self, calls: list[_Call[I, R]]) -> None:
        items = [item for call in calls for item in call.items]
        try:
            answers = await self._run(items)
        except (ServerUnavailable, StoreClosed) as exc:
            for call in calls:
                _give(call, exc)
            return
        except Exception as exc:
            if len(calls) == 1:
                _give(calls[0], exc)
                return
            for call in calls:  # find the call at fault: each alone
                try:
                    _give(call, await self._run(call.items))
                except Exception as alone:
                    _give(call, alone)
            return
        start = 0
        for call in calls:
            _give(call, answers[start : start + len(call.items)])
            start += len(call.items)


def _give(call: _Call[I, R], outcome: list[R] | BaseException) -> None:
    with contextlib.suppress(asyncio.InvalidStateError):  # its caller was cancelled
        if isinstance(outcome, BaseException):
            call.answer.set_exception(outcome)
        else:
            call.answer.set_result(outcome)
