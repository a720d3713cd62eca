"""Demo traffic for `rota dev --demo`: a steady trickle of jobs that shows every state."""

from __future__ import annotations

import random
import threading
from pathlib import Path

from rota.errors import RotaError
from rota.sync import Client

TICK_S = 1.0


def run_demo(
    url: str,
    stop: threading.Event,
    *,
    rng: random.Random | None = None,
    ca: Path | None = None,
) -> None:
    """Submit a few jobs every second until `stop` is set: hashes, sleeps that report
    progress, a delayed job, now and then one that fails after a retry, and a schedule.
    `ca`: the CA file an https:// server is verified with."""
    pick = rng or random.Random()
    tick = 0
    with Client(url, timeout_s=5.0, ca=ca) as client:
        try:  # a schedule too, so the schedules page has something to show
            client.put_schedule("demo-every-15s", "rota.echo", "tick", cron="*/15 * * * * *")
        except RotaError:
            pass  # not worth stopping the demo for
        while not stop.wait(TICK_S):
            tick += 1
            jobs: list[dict[str, object]] = [
                {"task": "rota.sha256", "args": [f"demo message {pick.randrange(10**6)}"]}
                for _ in range(pick.randint(1, 4))
            ]
            jobs.append({"task": "rota.sleep", "args": [round(pick.uniform(0.5, 4.0), 1)]})
            if tick % 5 == 0:
                jobs.append({"task": "rota.echo", "args": ["delayed hello"], "delay": 5})
            if tick % 12 == 0:
                jobs.append(
                    {
                        "task": "rota.fail",
                        "args": ["a demo failure"],
                        "max_attempts": 2,
                        "backoff": {"base_s": 2.0},
                    }
                )
            try:
                client.submit_many(jobs)
            except RotaError:
                continue  # the server may be restarting; the next tick tries again


def start_demo(url: str, stop: threading.Event, *, ca: Path | None = None) -> threading.Thread:
    """Run the demo on a daemon thread that ends when `stop` is set."""
    thread = threading.Thread(
        target=run_demo, args=(url, stop), kwargs={"ca": ca}, name="rota-demo", daemon=True
    )
    thread.start()
    return thread
