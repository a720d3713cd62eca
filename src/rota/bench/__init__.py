"""`rota bench`: workloads that measure Rota end to end, and the same workloads on its peers.

One module per workload (throughput, latency, punctuality, recovery, scale); each starts
real server and worker processes through `cluster`, returns a `results.WorkloadResult`, and
shows its progress on stderr. `peers` runs the same workloads on other Python task queues,
each in a virtual environment of its own; `report` prints tables and ratios, and `doc`
writes them into docs/performance.md.
"""
