"""Task output and logging go to the job's log; other output goes where it always went."""

from __future__ import annotations

import contextvars
import io
import logging
import sys
import threading

from rota.context import JobContext, set_current_job
from rota.worker.capture import capturing


def context_for(job_id: str, lines: list[tuple[str, str, str]]) -> JobContext:
    return JobContext(
        job_id=job_id,
        task="t",
        attempt=1,
        max_attempts=1,
        on_progress=lambda fraction, message: None,
        on_log=lambda text, stream: lines.append((job_id, stream, text)),
    )


def test_print_and_logging_inside_jobs_reach_their_own_log(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    real = io.StringIO()
    monkeypatch.setattr(sys, "stdout", real)
    lines: list[tuple[str, str, str]] = []

    def task(job_id: str) -> None:
        set_current_job(context_for(job_id, lines))
        print(f"hello from {job_id}", end="")
        print(" and more")
        logging.getLogger("user.code").info("info from %s", job_id)
        print("oops", file=sys.stderr)

    with capturing():
        threads = [
            threading.Thread(target=contextvars.copy_context().run, args=(task, name))
            for name in ("a", "b")
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        print("outside any job")
    assert sorted(lines) == [
        ("a", "log", "INFO user.code: info from a"),
        ("a", "stderr", "oops"),
        ("a", "stdout", "hello from a and more"),
        ("b", "log", "INFO user.code: info from b"),
        ("b", "stderr", "oops"),
        ("b", "stdout", "hello from b and more"),
    ]
    assert real.getvalue() == "outside any job\n"
    assert sys.stdout is real
