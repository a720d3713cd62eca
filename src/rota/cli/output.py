"""How the CLI shows jobs, workers, queues and events: rich tables, JSON and one-liners."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rota.clock import SYSTEM_CLOCK, Clock
from rota.types import Payload

STATE_STYLES = {
    "pending": "yellow",
    "running": "cyan",
    "succeeded": "green",
    "failed": "bold red",
    "cancelled": "magenta",
    "expired": "dim",
    "online": "green",
    "draining": "yellow",
    "stopping": "yellow",
    "offline": "dim",
}


PIPE_WIDTH = 500
"""Columns to lay tables out in when stdout is not a terminal: wide enough never to fold."""


def stdout() -> Console:
    """Return a console on stdout; piped, tables keep whole rows (for grep and scripts)."""
    console = Console(soft_wrap=True, highlight=False)
    if not console.is_terminal:
        console.width = PIPE_WIDTH
    return console


def stderr() -> Console:
    """Return a console on stderr, for status lines and messages."""
    return Console(stderr=True, highlight=False)


def print_json(value: Any) -> None:
    """Print a value as indented JSON on stdout."""
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def styled_state(state: str) -> str:
    """Return the state as rich markup in its color."""
    style = STATE_STYLES.get(state, "")
    return f"[{style}]{state}[/]" if style else state


def age(moment: str | None, clock: Clock = SYSTEM_CLOCK) -> str:
    """Return an ISO 8601 moment as a short relative age ("12s ago", "in 3m")."""
    if not moment:
        return "-"
    try:
        seconds = (clock.now_utc() - datetime.fromisoformat(moment)).total_seconds()
    except (ValueError, TypeError):
        return moment
    text = _span(abs(seconds))
    return f"{text} ago" if seconds >= 0 else f"in {text}"


def _span(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def job_state(job: Payload) -> str:
    """Return the job's state as markup, with "stopping" while its last attempt's code still
    runs after it was asked to stop."""
    text = styled_state(str(job.get("state")))
    return f"{text} {styled_state('stopping')}" if job.get("stopping") else text


def progress_text(job: Payload) -> str:
    """Return the job's state and progress as one short line of markup."""
    parts = [job_state(job)]
    progress = job.get("progress")
    if progress is not None:
        parts.append(f"{float(progress) * 100:.0f}%")
    if job.get("attempt"):
        parts.append(f"attempt {attempt_text(job)}")
    if job.get("worker"):
        parts.append(f"on {escape(str(job['worker']))}")
    return " · ".join(parts)


def attempt_text(job: Payload) -> str:
    """Return "attempt/last": the attempt's number and the last one its round may reach
    (attempts keep counting across manual retries, each of which adds a round)."""
    last = int(job.get("prior_attempts") or 0) + int(job.get("max_attempts") or 0)
    return f"{job.get('attempt')}/{last}"


def jobs_table(jobs: Iterable[Payload]) -> Table:
    """Return a table of jobs, one row each."""
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("ID", no_wrap=True)
    table.add_column("TASK", overflow="fold")
    table.add_column("STATE", no_wrap=True)
    table.add_column("QUEUE")
    table.add_column("PRI", justify="right")
    table.add_column("TRY", justify="right", no_wrap=True)
    table.add_column("WORKER")
    table.add_column("CREATED", no_wrap=True)
    for job in jobs:
        table.add_row(
            str(job["id"]),
            escape(str(job["task"])),
            job_state(job),
            escape(str(job["queue"])),
            str(job["priority"]),
            attempt_text(job),
            escape(str(job.get("worker") or "-")),
            age(job.get("created_at")),
        )
    return table


_DETAIL_FIELDS = (
    "task",
    "queue",
    "priority",
    "target",
    "attempt",
    "max_attempts",
    "prior_attempts",
    "worker",
    "progress",
    "timeout_s",
    "idempotency_key",
    "schedule_id",
    "run_at",
    "deadline_at",
    "created_at",
    "started_at",
    "finished_at",
)


def show_job(console: Console, job: Payload, events: list[Payload] | None = None) -> None:
    """Print one job in full: its fields, arguments, outcome and execution log."""
    console.print(f"[bold]{job['id']}[/]  {job_state(job)}")
    if job.get("stopping"):
        console.print(
            f"  [yellow]the code of attempt {job.get('attempt')} is still running on worker "
            f"{escape(str(job.get('worker')))}: asked to stop {age(job.get('stop_requested_at'))};"
            " the job cannot run again until it has stopped[/]"
        )
    for name in _DETAIL_FIELDS:
        value = job.get(name)
        if value is None or (name == "prior_attempts" and not value):
            continue
        if name.endswith("_at"):
            value = f"{value}  ({age(value)})"
        console.print(f"  {name + ':':<17}{escape(str(value))}")
    console.print(f"  {'args:':<17}{escape(_compact(job.get('args')))}")
    console.print(f"  {'kwargs:':<17}{escape(_compact(job.get('kwargs')))}")
    if job.get("state") == "succeeded":
        console.print(f"  {'result:':<17}{escape(_compact(job.get('result')))}")
    if job.get("error"):
        console.print(f"  [red]{'error:':<17}{escape(str(job['error']))}[/]")
    if job.get("traceback"):
        console.print("  traceback:")
        for line in str(job["traceback"]).rstrip().splitlines():
            console.print(f"    {escape(line)}")
    if events:
        console.print("  log:")
        for event in events:
            console.print("    " + event_line(event))


def event_line(event: Payload) -> str:
    """Return one event of the execution log as a line of markup."""
    at = str(event.get("at", ""))
    try:
        at = datetime.fromisoformat(at).astimezone().strftime("%H:%M:%S.%f")[:-3]
    except ValueError:
        pass
    worker = f" [dim]{escape(str(event['worker']))}[/]" if event.get("worker") else ""
    message = f"  {escape(str(event['message']))}" if event.get("message") else ""
    return f"[dim]{at}[/] #{event.get('attempt', 0)} [bold]{event.get('kind')}[/]{worker}{message}"


def workers_table(workers: Iterable[Payload]) -> Table:
    """Return a table of workers with their load and resources."""
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("NAME", "STATE", "RUNNING", "QUEUES", "TAGS", "SEEN", "CPU", "MEM"):
        table.add_column(name, justify="right" if name in {"CPU", "MEM"} else "left")
    for worker in workers:
        resources = worker.get("resources") or {}
        table.add_row(
            escape(str(worker["name"])),
            styled_state(str(worker["state"])),
            f"{worker['running']}/{worker['capacity']}",
            escape(",".join(worker.get("queues") or [])),
            escape(",".join(worker.get("tags") or []) or "-"),
            age(worker.get("last_seen_at")),
            _percent(resources.get("cpu_percent")),
            _percent(resources.get("memory_percent")),
        )
    return table


def queues_table(queues: Iterable[Payload]) -> Table:
    """Return a table of queues: depth, due, running and the oldest due job's wait."""
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("QUEUE", "PENDING", "DUE", "RUNNING", "OLDEST DUE"):
        table.add_column(name, justify="left" if name == "QUEUE" else "right")
    for queue in queues:
        oldest = queue.get("oldest_due_age_s")
        table.add_row(
            escape(str(queue["queue"])),
            str(queue["pending"]),
            str(queue["due"]),
            str(queue["running"]),
            "-" if oldest is None else _span(float(oldest)),
        )
    return table


def _percent(value: Any) -> str:
    return "-" if value is None else f"{float(value):.0f}%"


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)
