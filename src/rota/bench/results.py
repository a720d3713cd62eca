"""What a workload measured: named figures, each with its spread over runs and its direction."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rota.errors import RotaError


class BenchError(RotaError):
    """A workload could not run to its end (a process died, a job never finished)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Metric:
    """How to read one figure: its key, the words of its row and which way is better."""

    key: str
    label: str
    higher_is_better: bool
    digits: int = 0
    """Decimal places shown in tables."""
    compared: bool = True
    """Whether a ratio to a peer means something (not for counts such as early starts)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Figure:
    """One measured value: the median over runs, with the lowest and highest run."""

    value: float | None
    low: float | None = None
    high: float | None = None
    runs: tuple[float, ...] = ()

    @classmethod
    def of_runs(cls, values: Sequence[float]) -> Figure:
        """Return the median of `values` with its spread (None when there are none)."""
        if not values:
            return cls(value=None)
        return cls(
            value=statistics.median(values),
            low=min(values),
            high=max(values),
            runs=tuple(values),
        )

    @classmethod
    def one(cls, value: float | None) -> Figure:
        """Return a figure measured once."""
        return cls(value=value, runs=() if value is None else (value,))

    def to_dict(self) -> dict[str, Any]:
        """Return the figure as JSON-ready data."""
        return {"value": self.value, "low": self.low, "high": self.high, "runs": list(self.runs)}


@dataclass(frozen=True, kw_only=True, slots=True)
class WorkloadResult:
    """The figures one system gave on one workload, keyed by Metric.key."""

    workload: str
    system: str
    """"rota (sqlite)", "rota (postgres)" or a peer's name and version."""
    figures: dict[str, Figure]
    notes: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the result as JSON-ready data."""
        return {
            "workload": self.workload,
            "system": self.system,
            "figures": {key: figure.to_dict() for key, figure in self.figures.items()},
            "notes": self.notes,
            "params": self.params,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkloadResult:
        """Read a result back from `to_dict()` output (a peer driver prints it)."""
        figures = {
            key: Figure(
                value=value.get("value"),
                low=value.get("low"),
                high=value.get("high"),
                runs=tuple(value.get("runs", ())),
            )
            for key, value in dict(data.get("figures", {})).items()
        }
        return cls(
            workload=str(data["workload"]),
            system=str(data["system"]),
            figures=figures,
            notes=[str(note) for note in data.get("notes", [])],
            params=dict(data.get("params", {})),
        )


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Return the nearest-rank percentile (fraction 0..1) of `values`, None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


def ratio(rota: float | None, peer: float | None, *, higher_is_better: bool) -> float | None:
    """Return how many times better Rota's figure is than the peer's (> 1: Rota is better).

    None when either is missing or a zero makes the ratio meaningless.
    """
    if rota is None or peer is None:
        return None
    if higher_is_better:
        return rota / peer if peer > 0 else None
    return peer / rota if rota > 0 else None
