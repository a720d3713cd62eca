"""Submit a batch of jobs in one request and wait for every result.

ROTA_SERVER=http://127.0.0.1:8077 python examples/batch.py
"""

import rota

WORDS = ["apple", "banana", "cherry", "damson", "elderberry"]

with rota.Client() as client:  # the server from ROTA_SERVER, the token from ROTA_TOKEN
    jobs = client.submit_many([{"task": "rota.sha256", "args": [word]} for word in WORDS])
    print(f"submitted {len(jobs)} jobs")
    for word, job in zip(WORDS, jobs, strict=True):
        done = client.wait(job["id"], timeout_s=60)
        print(f"{word:<12} {done['state']:<10} {done['result']}")
