"""Tasks the dashboard tests import into a real worker: they print and log while running."""

from __future__ import annotations

import logging
import time

import rota

app = rota.Rota()
logger = logging.getLogger("dashboard.tasks")


@app.task(name="dash.chatty")
def chatty(text: str, seconds: float = 0.5) -> str:
    """Print, log and report progress, then return the text upside down."""
    print(f"printed {text}")
    logger.warning("logged %s", text)
    rota.current_job().progress(0.5, "half way")
    time.sleep(seconds)
    return text[::-1]


@app.task(name="dash.steps")
def steps(count: int, seconds: float = 0.0, pause: float = 0.0) -> int:
    """Report progress `count` times `pause` seconds apart, each with a message, then wait
    `seconds`."""
    for step in range(1, count + 1):
        rota.current_job().progress(step / (count + 1), f"step {step} of {count}")
        time.sleep(pause)
    time.sleep(seconds)
    return count
