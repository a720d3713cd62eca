"""List every job with its state, newest first, page by page; then count them by state.

ROTA_SERVER=http://127.0.0.1:8077 python examples/list_jobs.py
"""

from collections import Counter

import rota

counts: Counter[str] = Counter()
with rota.Client() as client:
    cursor = None
    while True:
        page = client.list_jobs(limit=100, cursor=cursor)
        for job in page["jobs"]:
            counts[job["state"]] += 1
            print(f"{job['id']}  {job['state']:<10} {job['task']}")
        cursor = page["next_cursor"]
        if not cursor:
            break
print(", ".join(f"{state}: {count}" for state, count in sorted(counts.items())) or "no jobs")
