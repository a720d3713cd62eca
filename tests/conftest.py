"""Hooks for the whole suite."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[Any]:
    """Escape lone surrogates in a report's captured output.

    Some tests make code print or log text that is not valid Unicode (to check that Rota
    escapes it); the captured copy would otherwise break the report's trip from a
    pytest-xdist process to the main one (UTF-8 cannot encode a lone surrogate).
    """
    outcome = yield
    report = outcome.get_result()
    report.sections = [
        (title, text.encode("utf-8", "backslashreplace").decode("utf-8"))
        for title, text in report.sections
    ]
