"""Type aliases shared across Rota, and nothing else."""

from __future__ import annotations

from typing import Any, TypeAlias

JSON: TypeAlias = Any
"""A value that survives a JSON round trip: None, bool, int, float, str, list, dict."""

JobId: TypeAlias = str
"""A job's id: a time-ordered UUID (version 7) in canonical text form."""

LeaseToken: TypeAlias = str
"""The fencing token issued with one claim of a job."""

Payload: TypeAlias = dict[str, Any]
"""A decoded protocol message or HTTP body."""
