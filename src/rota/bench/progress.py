"""A progress bar on stderr for each workload step (rich)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from rota.cli.output import stderr


class Bar:
    """One step's bar: set how far it is, or advance it."""

    def __init__(self, progress: Progress, task: TaskID) -> None:
        self._progress = progress
        self._task = task

    def advance(self, amount: float = 1) -> None:
        """Move the bar on by `amount`."""
        self._progress.advance(self._task, amount)

    def update(self, completed: float, total: float | None = None) -> None:
        """Set the bar to `completed` (of `total`, if given)."""
        self._progress.update(self._task, completed=completed, total=total)


@contextmanager
def bar(description: str, total: float | None) -> Iterator[Bar]:
    """Show a bar for one step while the block runs; it stays on screen when done."""
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr(),
        transient=False,
    )
    with progress:
        yield Bar(progress, progress.add_task(description, total=total))
