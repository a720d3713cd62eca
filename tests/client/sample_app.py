"""A Rota app with a few tasks, imported by the tests and by a real worker process."""

from __future__ import annotations

from rota import Rota

app = Rota()


@app.task
def add(x: int, y: int) -> int:
    return x + y


@app.task(name="sample.greet", queue="default", max_attempts=1)
async def greet(name: str, punctuation: str = "!") -> str:
    return f"Hello, {name}{punctuation}"


@app.task(max_attempts=1)
def explode(message: str) -> None:
    raise ValueError(message)


@app.task
def configure(queue: str, priority: int) -> str:
    """A task whose parameters use the names of job options."""
    return f"{queue}:{priority}"
