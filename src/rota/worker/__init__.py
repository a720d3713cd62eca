"""The worker: connects to a server, runs the jobs it is given, reports their outcomes."""

from rota.protocol import JobOrder
from rota.worker.executor import Executor, Outcome
from rota.worker.main import build_registry, run_worker
from rota.worker.runtime import Worker

__all__ = ["Executor", "JobOrder", "Outcome", "Worker", "build_registry", "run_worker"]
