"""How the CLI shows jobs, workers, queues and events: rich tables, JSON and one-liners.

Everything the CLI shows people goes through here, and here the control characters of the
values it shows (a task's output, errors, names: anything stored or sent by others) are
shown as escapes ("\\x1b") rather than obeyed by the terminal: see HumanConsole, echo,
print_json and print_result.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import typer
from rich.console import Console, ConsoleOptions, RenderableType
from rich.markup import escape
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

from rota.clock import SYSTEM_CLOCK, Clock
from rota.safe_text import CONTROLS, visible_controls
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


# No emoji codes: names such as the device "a:b" (target "device:a:b") are shown as given,
# not with ":a:" made into an emoji.
PIPE_WIDTH = 500
"""Columns to lay tables out in when stdout is not a terminal: wide enough never to fold."""


class HumanConsole(Console):
    """A rich console that shows the control characters of the text it prints as escapes
    (rota.safe_text.visible_controls), so no value it shows can drive the terminal, while
    the colours and cursor moves rich itself makes work as ever.

    Strings (markup or not, printed or in a table's cell) are made visible before rich reads
    them, so tables are laid out for the text shown; and every text segment is made visible
    again on its way out, which covers what reaches rich as Text (a status line) too. Rich's
    own control segments, and the styles it renders around the text, are left as they are.
    """

    def render_str(self, text: str, **options: Any) -> Text:
        # Markup is read after: a tag holds no control character, and "\x1b" before a
        # "[" ends in a digit or letter, so it never turns an escaped bracket into a tag.
        return super().render_str(visible_controls(text), **options)

    def render(
        self, renderable: RenderableType, options: ConsoleOptions | None = None
    ) -> Iterator[Segment]:
        for segment in super().render(renderable, options):
            if segment.control is None and CONTROLS.search(segment.text):
                yield Segment(visible_controls(segment.text), segment.style)
            else:
                yield segment


_JSON_RAW = re.compile("[\x7f-\x9f]")
"""What json.dumps leaves raw that a terminal may obey (it escapes the C0 controls itself)."""


def stdout() -> Console:
    """Return a console on stdout; piped, tables keep whole rows (for grep and scripts)."""
    console = HumanConsole(soft_wrap=True, highlight=False, emoji=False)
    if not console.is_terminal:
        console.width = PIPE_WIDTH
    return console


def stderr() -> Console:
    """Return a console on stderr, for status lines and messages."""
    return HumanConsole(stderr=True, highlight=False, emoji=False)


def echo(message: str, *, err: bool = False) -> None:
    """Print a plain line (no markup) on stdout, or stderr, with its control characters
    shown as escapes."""
    typer.echo(visible_controls(message), err=err)


def json_text(value: Any, indent: int | None = 2) -> str:
    """Return a value as JSON with DEL and the C1 controls written as \\u escapes: the same
    JSON value, which no terminal obeys (JSON already escapes the C0 controls)."""
    text = json.dumps(value, indent=indent, ensure_ascii=False, default=str)
    return _JSON_RAW.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def print_json(value: Any) -> None:
    """Print a value as indented JSON on stdout."""
    print(json_text(value))


def print_result(value: Any) -> None:
    """Print a job's result on stdout: a string as it is (so a shell can use it), though
    with its control characters shown when stdout is a terminal; anything else as JSON."""
    if not isinstance(value, str):
        print(json_text(value))
    else:
        print(visible_controls(value) if sys.stdout.isatty() else value)


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
        parts.append(percent(progress))
    if job.get("attempt"):
        parts.append(f"attempt {attempt_text(job)}")
    if job.get("worker"):
        parts.append(f"on {escape(str(job['worker']))}")
    return " · ".join(parts)


def wait_status(job: Payload, message: str | None, waited_s: float) -> str:
    """Return the status line of a wait: state, progress, the last progress message and
    how long it has waited, as markup."""
    parts = [progress_text(job)]
    if message:
        parts.append(escape(message))
    parts.append(elapsed(waited_s))
    return f"{job['id']}  " + " · ".join(parts)


def elapsed(seconds: float) -> str:
    """Return a time waited as a clock reads it: "8s", "1m15s", "2h03m"."""
    whole = int(max(0.0, seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def percent(progress: Any) -> str:
    """Return a progress fraction (0..1) as a whole percentage: 0.1335 -> "13%"."""
    return f"{float(progress) * 100:.0f}%"


def warning_lines(jobs: Iterable[Payload]) -> list[str]:
    """Return, as markup, one line per job that carries a warning (no online worker can
    run it, and why)."""
    return [
        f"[yellow]! {short_id(str(job['id']))}: {escape(str(job['warning']))}[/]"
        for job in jobs
        if job.get("warning")
    ]


def short_id(job_id: str) -> str:
    """Return the short id tables show: the last 12 characters, which differ between jobs
    made in the same millisecond (the start is the time)."""
    return job_id[-12:]


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
            short_id(str(job["id"])),
            escape(str(job["task"])),
            job_state(job) + (" [yellow]![/]" if job.get("warning") else ""),
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
    if job.get("warning"):
        console.print(f"  [yellow]warning: {escape(str(job['warning']))}[/]")
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
        elif name == "progress":
            value = percent(value)
        elif name == "schedule_id":  # by name, as long as the schedule exists
            name = "schedule"
            value = f"{job['schedule_name']}  ({value})" if job.get("schedule_name") else value
        console.print(f"  {name + ':':<17}{escape(str(value))}")
    console.print(f"  {'args:':<17}{escape(_compact(job.get('args')))}")
    console.print(f"  {'kwargs:':<17}{escape(_compact(job.get('kwargs')))}")
    if job.get("state") == "succeeded":
        console.print(f"  {'result:':<17}{escape(_compact(job.get('result')))}")
    if job.get("error"):
        console.print(f"  [red]{'error:':<17}{escape(str(job['error']))}[/]")
    if job.get("traceback"):
        console.print("  traceback:")
        for line in str(job["traceback"]).rstrip().split("\n"):
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


def attempts_table(attempts: Iterable[Payload]) -> Table:
    """Return a table of a job's attempts: worker, start, duration, outcome and error."""
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("#", "WORKER", "STARTED", "TOOK", "OUTCOME", "ERROR"):
        table.add_column(name, justify="right" if name in {"#", "TOOK"} else "left")
    for attempt in attempts:
        took = attempt.get("duration_s")
        table.add_row(
            str(attempt["attempt"]),
            escape(str(attempt.get("worker") or "-")),
            age(attempt.get("started_at")),
            "-" if took is None else f"{float(took):.1f}s",
            styled_state(str(attempt["outcome"])),
            escape(str(attempt.get("error") or "")),
        )
    return table


def workers_table(workers: Iterable[Payload]) -> Table:
    """Return a table of workers with their load and resources."""
    table = Table(box=None, header_style="bold", pad_edge=False)
    figures = ("HOST CPU", "HOST MEM", "PROC CPU", "PROC RSS")
    for name in ("NAME", "STATE", "RUNNING", "QUEUES", "TAGS", "SEEN", *figures):
        table.add_column(name, justify="right" if name in figures else "left")
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
            _percent(resources.get("process_cpu_percent")),
            _bytes(resources.get("process_rss_bytes")),
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


def _bytes(value: Any) -> str:
    """Return a byte count as a short human figure (binary units): 1536 -> "1.5 KiB"."""
    if value is None:
        return "-"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"  # pragma: no cover - the loop always returns


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def stats_table(tasks: Iterable[Payload]) -> Table:
    """Return a table of per-task figures: counts, failure rate, run time and lateness."""
    table = Table(box=None, header_style="bold", pad_edge=False)
    columns = ("TASK", "PENDING", "RUNNING", "OK", "FAILED", "FAIL %", "RUN P50", "RUN P95")
    for name in (*columns, "LATE P95"):
        table.add_column(name, justify="left" if name == "TASK" else "right")
    for row in tasks:
        counts = row.get("counts") or {}
        rate = row.get("failure_rate")
        table.add_row(
            escape(str(row["task"])),
            str(counts.get("pending", 0)),
            str(counts.get("running", 0)),
            str(counts.get("succeeded", 0)),
            str(counts.get("failed", 0)),
            "-" if rate is None else percent(rate),
            _seconds(row.get("run_p50_s")),
            _seconds(row.get("run_p95_s")),
            _seconds(row.get("lateness_p95_s")),
        )
    return table


def show_worker(console: Console, worker: Payload) -> None:
    """Print one worker in full: state, load, tasks, jobs and its latest resources."""
    console.print(f"[bold]{escape(str(worker['name']))}[/]  {styled_state(str(worker['state']))}")
    console.print(f"  {'running:':<14}{worker['running']}/{worker['capacity']}")
    console.print(f"  {'queues:':<14}{escape(', '.join(worker.get('queues') or []))}")
    console.print(f"  {'tags:':<14}{escape(', '.join(worker.get('tags') or []) or '-')}")
    console.print(f"  {'server:':<14}{escape(str(worker.get('server') or '-'))}")
    console.print(f"  {'seen:':<14}{age(worker.get('last_seen_at'))}")
    console.print(f"  {'tasks:':<14}{escape(', '.join(worker.get('tasks') or []) or '-')}")
    resources = worker.get("resources") or {}
    console.print(
        f"  {'process:':<14}cpu {_percent(resources.get('process_cpu_percent'))}, "
        f"rss {_bytes(resources.get('process_rss_bytes'))}"
        f"  (host: cpu {_percent(resources.get('cpu_percent'))}, "
        f"mem {_percent(resources.get('memory_percent'))})"
    )
    samples = worker.get("samples") or []
    if samples:
        cpu = [s["resources"].get("cpu_percent") for s in samples]
        shown = " ".join(_percent(value) for value in cpu[-12:])
        console.print(f"  {'cpu (latest):':<14}{shown}")
    for title, key in (("running jobs", "running_jobs"), ("recent jobs", "recent_jobs")):
        jobs = worker.get(key) or []
        console.print(f"  {title}:" + ("" if jobs else " none"))
        if jobs:
            console.print(jobs_table(jobs))
    console.print(f"  [dim]drain: rota workers drain {escape(str(worker['name']))}[/]")


def _seconds(value: Any) -> str:
    return "-" if value is None else f"{float(value):.2f}s"
