"""Drivers that run the bench's workloads on other task queues, in their own virtual
environments. The files here are data for `rota.bench.peer_runner`: each is run with a peer
venv's Python, never imported by Rota."""
