"""A chain of dependent jobs, by hand: each job starts with the result of the one before.

ROTA_SERVER=http://127.0.0.1:8077 python examples/chain.py
"""

from typing import Any

import rota

with rota.Client() as client:  # the server from ROTA_SERVER, the token from ROTA_TOKEN

    def run(task: str, *args: Any) -> Any:
        """Submit a job, wait for it, and return its result (JobFailed if it did not succeed)."""
        job = client.wait(client.submit(task, list(args))["id"], timeout_s=60)
        if job["state"] != "succeeded":
            raise rota.errors.JobFailed(f"{task} {job['state']}: {job.get('error')}")
        print(f"{task:<12} -> {job['result']}")
        return job["result"]

    text = run("rota.echo", "Rota runs jobs in order when you chain them")
    digest = run("rota.sha256", text)
    summary = run("rota.echo", {"text": text, "digest": digest[:12]})
print(f"done: {summary}")
