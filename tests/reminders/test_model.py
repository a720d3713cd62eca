"""The reminder's one definition: what it accepts, what it refuses, and the rung result."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rota.reminders.model import ReminderError, ReminderSpec, Rung, device_tag


def test_spec_keeps_only_what_was_given() -> None:
    spec = ReminderSpec.parse({"text": "Stand-up", "notify": ["ntfy://rota-test"]})
    assert spec.as_kwargs() == {"text": "Stand-up", "notify": ["ntfy://rota-test"]}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({}, "text"),
        ({"text": "   "}, "text"),
        ({"text": "x" * 1001}, "text"),
        ({"text": "ok", "notify": ["not a url"]}, "notify"),
        ({"text": "ok", "colour": "red"}, "colour"),
        ({"text": "ok", "before_s": -1}, "before_s"),
        ({"text": "a\x00b"}, "text: .*NUL character at index 1"),
        ({"text": "a\x1b[31mred"}, "text: .*control character"),
        ({"text": "ok", "notify": ["json://h/\x00"]}, "notify: .*NUL"),
        ({"text": "ok", "uid": "u\x00"}, "uid: .*NUL"),
    ],
)
def test_spec_refuses_bad_kwargs_naming_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ReminderError, match=field):
        ReminderSpec.parse(kwargs)  # type: ignore[arg-type]


def test_rung_marks_late_after_a_second() -> None:
    due = datetime(2026, 11, 30, 9, 55, tzinfo=UTC)
    on_time = Rung.at(due, due + timedelta(milliseconds=40), "laptop", ("chime",))
    late = Rung.at(due, due + timedelta(seconds=90), "laptop", ("chime",))
    assert (on_time.late, on_time.late_s) == (False, 0.04)
    assert (late.late, late.late_s) == (True, 90.0)
    assert Rung.at(due, due - timedelta(seconds=1), None, ()).late_s == 0.0


def test_spec_keeps_newlines_and_tabs() -> None:
    assert ReminderSpec.parse({"text": "Stand-up\n\troom 4"}).text == "Stand-up\n\troom 4"


def test_device_tag() -> None:
    assert device_tag("laptop") == "device:laptop"


def test_the_result_in_docs_reminders_md_is_what_a_notification_records() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "reminders.md").read_text()
    block = doc.split("then records the result:\n\n```json\n", 1)[1].split("```", 1)[0]
    shown = json.loads(block)
    due = datetime.fromisoformat(shown["due_at"])
    rung = datetime.fromisoformat(shown["rung_at"])
    made = Rung.at(due, rung, None, ("notify:ntfy",)).model_dump(mode="json")
    assert made == shown
