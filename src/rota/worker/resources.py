"""The resource figures a worker puts in every heartbeat: its machine's and its own."""

from __future__ import annotations

import importlib
import os
import socket
import time
from pathlib import Path
from typing import Any

import psutil

from rota.types import JSON


class ResourceSampler:
    """Reads CPU, memory, disk, load and (where present) GPU figures without blocking long.

    GPU figures come from nvidia-ml-py (module `pynvml`) when it is installed and finds a
    GPU; Rota does not depend on it, so `gpus` is an empty list otherwise.

    Besides the host's figures (shared by every worker on the machine), each sample carries
    the worker process's own: `process_cpu_percent` (CPU time of the worker and all its
    descendants, such as the processes of isolated tasks, over the time since the previous
    sample, as a share of the whole machine like `cpu_percent`; None on the first sample)
    and `process_rss_bytes` (resident memory of the worker and its live descendants).
    """

    def __init__(self, disk_path: Path | None = None) -> None:
        self._disk_path = str(disk_path or Path.cwd())
        self._host = socket.gethostname()
        # The first non-blocking cpu_percent() call only sets the baseline; prime it now.
        psutil.cpu_percent(interval=None)
        self._process = psutil.Process()
        self._cpu_count = psutil.cpu_count() or 1
        self._last_cpu: tuple[float, float] | None = None
        self._process_figures()  # sets the baseline for process_cpu_percent
        self._nvml: Any = _open_nvml()

    def sample(self) -> dict[str, JSON]:
        """Return the figures as the heartbeat's `resources` map."""
        memory = psutil.virtual_memory()
        disk: dict[str, JSON] = {"disk_percent": None}
        try:
            usage = psutil.disk_usage(self._disk_path)
            disk = {
                "disk_percent": usage.percent,
                "disk_used_bytes": usage.used,
                "disk_total_bytes": usage.total,
            }
        except OSError:
            pass
        try:
            load_avg: list[float] | None = [round(x, 2) for x in os.getloadavg()]
        except (AttributeError, OSError):  # not every platform has a load average
            load_avg = None
        return {
            # Workers on one machine share its figures; the host names that machine.
            "host": self._host,
            "cpu_count": psutil.cpu_count(),
            "cpu_percent": psutil.cpu_percent(interval=None),
            "memory_percent": memory.percent,
            "memory_used_bytes": memory.total - memory.available,
            "memory_total_bytes": memory.total,
            **disk,
            "load_avg": load_avg,
            "gpus": self._gpus(),
            **self._process_figures(),
        }

    def _process_figures(self) -> dict[str, JSON]:
        """Return the worker's own CPU share since the last call and its resident memory.

        CPU time counts the worker, its descendants alive now, and the children it has
        reaped (psutil's `children_user`/`children_system`), so a task process that ended
        between two samples still counts; a descendant that ended unreaped loses its time,
        and the share is then clamped at 0.
        """
        cpu_s = 0.0
        rss = 0
        processes = [self._process]
        try:
            processes += self._process.children(recursive=True)
        except psutil.Error:
            pass
        for index, process in enumerate(processes):
            try:
                with process.oneshot():
                    times = process.cpu_times()
                    rss += process.memory_info().rss
            except psutil.Error:  # a child ended while we read it
                continue
            cpu_s += times.user + times.system
            if index == 0:
                cpu_s += times.children_user + times.children_system
        now = time.monotonic()
        percent: float | None = None
        if self._last_cpu is not None:
            last_at, last_cpu_s = self._last_cpu
            elapsed = now - last_at
            if elapsed > 0:
                share = 100.0 * (cpu_s - last_cpu_s) / (elapsed * self._cpu_count)
                percent = round(min(100.0, max(0.0, share)), 1)
        self._last_cpu = (now, cpu_s)
        return {"process_cpu_percent": percent, "process_rss_bytes": rss}

    def close(self) -> None:
        """Release the GPU library, if it was opened."""
        if self._nvml is not None:
            try:
                self._nvml.nvmlShutdown()
            except Exception:  # shutting down a driver library must not fail the worker
                pass
            self._nvml = None

    def _gpus(self) -> list[dict[str, JSON]]:
        nvml = self._nvml
        if nvml is None:
            return []
        gpus: list[dict[str, JSON]] = []
        try:
            for index in range(nvml.nvmlDeviceGetCount()):
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                name = nvml.nvmlDeviceGetName(handle)
                memory = nvml.nvmlDeviceGetMemoryInfo(handle)
                utilisation = nvml.nvmlDeviceGetUtilizationRates(handle)
                gpus.append(
                    {
                        "index": index,
                        "name": name.decode() if isinstance(name, bytes) else str(name),
                        "utilization_percent": float(utilisation.gpu),
                        "memory_used_bytes": int(memory.used),
                        "memory_total_bytes": int(memory.total),
                    }
                )
        except Exception:  # a driver error costs the GPU figures, never the heartbeat
            return []
        return gpus


def _open_nvml() -> Any:
    try:
        nvml = importlib.import_module("pynvml")
        nvml.nvmlInit()
        if nvml.nvmlDeviceGetCount() == 0:
            nvml.nvmlShutdown()
            return None
    except Exception:  # not installed, no driver, or no GPU: all mean "no GPU figures"
        return None
    return nvml
