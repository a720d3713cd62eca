"""The machine's resource figures a worker puts in every heartbeat."""

from __future__ import annotations

import importlib
import os
import socket
from pathlib import Path
from typing import Any

import psutil

from rota.types import JSON


class ResourceSampler:
    """Reads CPU, memory, disk, load and (where present) GPU figures without blocking long.

    GPU figures come from nvidia-ml-py (module `pynvml`) when it is installed and finds a
    GPU; Rota does not depend on it, so `gpus` is an empty list otherwise.
    """

    def __init__(self, disk_path: Path | None = None) -> None:
        self._disk_path = str(disk_path or Path.cwd())
        self._host = socket.gethostname()
        # The first non-blocking cpu_percent() call only sets the baseline; prime it now.
        psutil.cpu_percent(interval=None)
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
        }

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
