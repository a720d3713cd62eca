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
