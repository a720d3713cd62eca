"""Read every worker's machine figures: CPU, memory, disk and GPUs, from its last heartbeat.

ROTA_SERVER=http://127.0.0.1:8077 python examples/machines.py
"""

import rota

GIB = 1024**3


def gib(value: float | None) -> str:
    return "?" if value is None else f"{value / GIB:.1f} GiB"


with rota.Client() as client:
    workers = client.workers()
for worker in workers:
    figures = worker["resources"]
    print(f"{worker['name']} ({worker['state']}, on {figures.get('host', '?')})")
    print(f"  cpu     {figures.get('cpu_percent')}% of {figures.get('cpu_count')} cores")
    used, total = figures.get("memory_used_bytes"), figures.get("memory_total_bytes")
    print(f"  memory  {figures.get('memory_percent')}% ({gib(used)} of {gib(total)})")
    used, total = figures.get("disk_used_bytes"), figures.get("disk_total_bytes")
    print(f"  disk    {figures.get('disk_percent')}% ({gib(used)} of {gib(total)})")
    for gpu in figures.get("gpus") or []:
        print(f"  gpu {gpu['index']}   {gpu['name']}: {gpu['utilization_percent']}% busy")
    if not figures.get("gpus"):
        print("  gpu     none")
if not workers:
    print("no workers")
