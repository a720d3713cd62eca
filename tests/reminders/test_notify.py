"""The built-in rota.remind of ordinary workers: sends to each URL, fails so it is retried."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

from rota.reminders.model import ReminderError, Rung
from rota.reminders.notify import NotifyFailed
from rota.reminders.task import remind
from tests.reminders.hook import Hook


@pytest.fixture
def hook() -> Iterator[Hook]:
    made = Hook()
    yield made
    made.close()


def test_sends_the_text_to_every_url_and_returns_the_rung_result(hook: Hook) -> None:
    result = Rung.model_validate(remind(text="Tea", notify=[hook.url, hook.url + "2"]))
    assert result.device is None and result.via == ("notify:json", "notify:json")
    assert result.late is False and isinstance(result.rung_at, datetime)
    assert [body["message"] for body in hook.bodies] == ["Tea", "Tea"]


def test_a_refused_or_unknown_url_fails_naming_only_scheme_and_host(hook: Hook) -> None:
    hook.failures = 1
    with pytest.raises(NotifyFailed) as caught:
        remind(text="Tea", notify=[f"json://user:secret@127.0.0.1:{hook.port}/x", "nope://y/z"])
    message = caught.value.message
    assert "json://127.0.0.1/… (refused or did not answer)" in message
    assert "nope://y/… (not a notification URL Apprise knows)" in message
    assert "secret" not in message


def test_a_reminder_without_urls_is_refused_by_an_ordinary_worker() -> None:
    with pytest.raises(ReminderError, match="names no notification URL"):
        remind(text="Tea")
    with pytest.raises(ReminderError, match="text"):
        remind(text="", notify=["json://h/x"])
