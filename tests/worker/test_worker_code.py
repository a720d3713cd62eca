"""Stopping a task's code: interrupts in threads, cancelled coroutines, and attempts that
end only once their code has stopped, with the timeout counted from the code's start."""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from rota.context import JobContext
from rota.errors import TaskInterrupted
from rota.protocol import JobOrder
from rota.values import JsonText
from rota.worker.code import AsyncCode, LoopCalls, ThreadCode, Threads
from rota.worker.executor import Attempt, Outcome


def _context() -> JobContext:
    return JobContext(
        job_id="j1",
        task="t.x",
        attempt=1,
        max_attempts=1,
        on_progress=lambda fraction, text: None,
        on_log=lambda text, stream: None,
    )


ORDER = JobOrder(
    job_id="j1",
    token="t",
    task="t.x",
    args=[],
    kwargs={},
    attempt=1,
    max_attempts=1,
    timeout_s=None,
    queue="default",
)


def _attempt(code: Any, **options: Any) -> Attempt:
    return Attempt(
        code,
        Outcome.success,
        order=ORDER,
        context=_context(),
        **options,
    )


async def test_an_interrupt_stops_a_python_loop_and_runs_its_finally() -> None:
    inside, cleaned = threading.Event(), threading.Event()

    def loop_forever() -> None:
        try:
            inside.set()
            while True:
                time.sleep(0.01)
        finally:
            cleaned.set()

    code = ThreadCode(loop_forever, name="t")
    code.start()
    await code.started.wait()
    await asyncio.to_thread(inside.wait, 5)
    code.interrupt()
    with pytest.raises(TaskInterrupted):
        await code.wait()
    assert cleaned.is_set()


async def test_an_interrupt_lands_once_a_long_c_call_returns() -> None:
    after: list[str] = []

    def one_long_sleep() -> None:
        time.sleep(0.3)  # the interrupt cannot land inside this C call
        while True:
            after.append("looping")
            time.sleep(0.01)

    code = ThreadCode(one_long_sleep, name="t")
    code.start()
    await code.started.wait()
    code.interrupt()
    with pytest.raises(TaskInterrupted):
        await code.wait()
    assert len(after) <= 1  # stopped at the first bytecodes after the sleep returned


async def _interrupted_around_its_return(code: ThreadCode, round_: int) -> asyncio.Future[Any]:
    """Start the code and interrupt it as often as possible until it ended; on odd rounds
    only once it began (an interrupt sent before it began keeps it from beginning)."""
    code.start()
    if round_ % 2:
        await code.started.wait()
    ended = asyncio.ensure_future(code.wait())
    while not ended.done():
        code.interrupt()
        await asyncio.sleep(0)
    return ended


@pytest.fixture
def a_gc_callback() -> Iterator[None]:
    """A gc callback, as profilers and test tools (hypothesis) install.

    An interrupt that lands inside such a callback (or in a `__del__`) is swallowed by
    Python and reported as unraisable: the code goes on as if it had not been asked, and the
    executor asks again after the grace. Nothing else may come of it."""

    def callback(phase: str, info: dict[str, int]) -> None:
        time.sleep(0.0002)  # lets the interrupter in (the GIL is free) ...
        for _ in range(10):  # ... before bytecodes, where its interrupt lands
            pass

    gc.callbacks.append(callback)
    try:
        yield
    finally:
        gc.callbacks.remove(callback)


@pytest.mark.usefixtures("a_gc_callback")
@pytest.mark.parametrize("collects", [False, True], ids=["plain", "collecting"])
async def test_interrupts_around_the_return_never_lose_the_end_of_the_code(
    monkeypatch: pytest.MonkeyPatch, collects: bool
) -> None:
    escaped: list[Any] = []
    swallowed: list[Any] = []
    monkeypatch.setattr(threading, "excepthook", escaped.append)
    monkeypatch.setattr(sys, "unraisablehook", swallowed.append)
    outcomes = set()

    def double(round_: int) -> int:
        if collects:
            gc.collect(0)  # runs the callback in this thread, where interrupts land
        return round_ * 2

    for round_ in range(200):
        code = ThreadCode(lambda round_=round_: double(round_), name="t")
        ended = await _interrupted_around_its_return(code, round_)
        try:
            assert ended.result() == round_ * 2
            outcomes.add("returned")
        except TaskInterrupted:
            outcomes.add("interrupted")  # asked in time: it stopped, and said so
    assert not escaped, "an interrupt escaped the code's thread"
    assert "returned" in outcomes
    assert {type(u.exc_value) for u in swallowed} <= {TaskInterrupted}


async def test_a_thread_of_its_own_starts_even_when_others_are_stuck() -> None:
    release = threading.Event()
    stuck = [ThreadCode(release.wait, name=f"stuck-{i}") for i in range(4)]
    for code in stuck:
        code.start()
    fresh = ThreadCode(lambda: "ran", name="fresh")
    fresh.start()
    assert await asyncio.wait_for(fresh.wait(), 5) == "ran"
    release.set()
    for code in stuck:
        assert await code.wait() is True


async def test_a_thread_whose_code_returned_runs_the_next_attempt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An attempt is over (wait() returns) a moment before its thread is back among the idle
    # ones; a start in that moment gets a new thread, which is right. Slowed here so that
    # moment is long, the test waits for the thread to be back, as the next job would.
    back = Threads._back

    def slow_back(self: Threads, runner: Any) -> bool:
        time.sleep(0.05)
        return back(self, runner)

    monkeypatch.setattr(Threads, "_back", slow_back)
    threads = Threads()
    idents = []
    for round_ in range(3):
        code = ThreadCode(threading.get_ident, name=f"t{round_}", threads=threads)
        code.start()
        idents.append(await code.wait())
        for _ in range(500):
            if threads.idle:
                break
            await asyncio.sleep(0.01)
        assert threads.idle == 1
    assert len(set(idents)) == 1


async def test_a_thread_still_in_its_code_is_not_handed_another() -> None:
    threads = Threads()
    release = threading.Event()
    stuck = ThreadCode(
        lambda: (release.wait(), threading.get_ident())[1], name="s", threads=threads
    )
    stuck.start()
    await stuck.started.wait()
    fresh = ThreadCode(threading.get_ident, name="f", threads=threads)
    fresh.start()
    fresh_ident = await asyncio.wait_for(fresh.wait(), 5)
    release.set()
    assert await stuck.wait() != fresh_ident


async def test_interrupts_of_an_ended_attempt_never_reach_the_next_one_on_its_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    escaped: list[Any] = []
    monkeypatch.setattr(threading, "excepthook", escaped.append)
    threads = Threads()
    returned = 0
    for round_ in range(200):
        code = ThreadCode(lambda round_=round_: round_ * 2, name="t", threads=threads)
        ended = await _interrupted_around_its_return(code, round_)
        code.interrupt()  # and after: the thread runs the next attempt's code by now
        try:
            assert ended.result() == round_ * 2
            returned += 1
        except TaskInterrupted:
            pass
        calm = ThreadCode(lambda: sum(range(1000)), name="calm", threads=threads)
        calm.start()
        assert await calm.wait() == sum(range(1000))
    assert not escaped, "an interrupt escaped the code's thread"
    assert returned > 0


async def test_an_interrupt_before_the_thread_reaches_the_code_keeps_it_from_running() -> None:
    ran = threading.Event()
    code = ThreadCode(ran.set, name="t")
    code.interrupt()  # as a cancel arriving between start() and the thread's first step
    code.start()
    with pytest.raises(TaskInterrupted):
        await code.wait()
    assert not ran.is_set()
    assert not code.started.is_set()


async def test_calls_from_threads_made_together_take_one_wake_up_of_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop = asyncio.get_running_loop()
    wake_ups = []
    real = loop.call_soon_threadsafe
    monkeypatch.setattr(
        loop, "call_soon_threadsafe", lambda *args: (wake_ups.append(1), real(*args))[1]
    )
    calls = LoopCalls(loop)
    heard: list[int] = []
    thread = threading.Thread(target=lambda: [calls.call(heard.append, n) for n in range(3)])
    thread.start()
    thread.join()  # the loop does not run meanwhile: the three calls wait together
    await asyncio.sleep(0.05)
    assert heard == [0, 1, 2]
    assert len(wake_ups) == 1


async def test_a_cancelled_coroutine_ends_as_interrupted() -> None:
    code = AsyncCode(lambda: asyncio.sleep(30), name="t")
    code.start()
    await code.started.wait()
    code.interrupt()
    with pytest.raises(TaskInterrupted):
        await code.wait()


class FakeCode:
    """Starts `start_after_s` after start(), runs `run_s`, obeys interrupts or not."""

    def __init__(self, *, start_after_s: float = 0.0, run_s: float, obey: bool = True) -> None:
        self.started = asyncio.Event()
        self.interrupts = 0
        self.ran = False
        self._obey = obey
        self._start_after_s = start_after_s
        self._run_s = run_s
        self._loop = asyncio.get_running_loop()
        self._done: asyncio.Future[Any] = self._loop.create_future()

    def start(self) -> None:
        self._loop.call_later(self._start_after_s, self._begin)

    def _begin(self) -> None:
        self.started.set()
        self._loop.call_later(self._run_s, self._end)

    def _end(self) -> None:
        self.ran = True
        if not self._done.done():
            self._done.set_result("value")

    def interrupt(self) -> None:
        self.interrupts += 1
        if self._obey and self.started.is_set() and not self._done.done():
            self._done.set_exception(TaskInterrupted())

    async def wait(self) -> Any:
        return await asyncio.shield(self._done)


async def test_the_timeout_counts_from_when_the_code_starts() -> None:
    late = FakeCode(start_after_s=0.4, run_s=0.1)
    outcome = await _attempt(late, timeout_s=0.3).run()
    assert outcome.ok and outcome.result_json == JsonText('"value"')


async def test_a_timed_out_attempt_ends_only_once_its_code_stopped() -> None:
    heard: list[str] = []
    deaf = FakeCode(run_s=0.5, obey=False)
    attempt = _attempt(deaf, timeout_s=0.05, stop_grace_s=0.1, on_stopping=heard.append)
    outcome = await attempt.run()
    assert deaf.ran, "the attempt ended before its code did"
    assert outcome.error == "TimeoutError: task 't.x' did not finish within 0.05s"
    assert "did not finish within 0.05s" in heard[0]
    assert any("did not stop within 0.1s" in line for line in heard[1:])
    assert deaf.interrupts >= 2  # asked again after each stop grace


async def test_code_that_will_not_stop_is_reported_once_and_asked_again_quietly() -> None:
    # It used to be reported after every stop grace: a job stuck for an hour in a C call
    # filled its execution log with 360 identical 'stopping' events (at the default 10 s).
    heard: list[str] = []
    deaf = FakeCode(run_s=0.6, obey=False)
    attempt = _attempt(deaf, timeout_s=0.05, stop_grace_s=0.1, on_stopping=heard.append)
    await attempt.run()
    assert deaf.interrupts >= 3
    assert [line for line in heard if "did not stop within" in line] == [heard[1]]
    assert len(heard) == 2


async def test_stop_ends_the_attempt_once_the_code_obeys() -> None:
    code = FakeCode(run_s=30)
    attempt = _attempt(code)
    running = asyncio.ensure_future(attempt.run())
    await code.started.wait()
    attempt.stop("cancelled")
    outcome = await running
    assert not outcome.ok and "TaskInterrupted" in outcome.error
    assert attempt.stop_reason == "cancelled"


async def test_an_attempt_stopped_before_it_started_never_runs_its_code() -> None:
    code = FakeCode(run_s=0.01)
    attempt = _attempt(code)
    attempt.stop("cancelled")
    outcome = await attempt.run()
    assert not outcome.ok and "before it started" in outcome.error
    await asyncio.sleep(0.05)
    assert not code.started.is_set()
