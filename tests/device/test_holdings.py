"""The device's file: what it holds survives a restart, what rang is remembered, and a
broken file is a clear error."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rota.device.holdings import RUNG_KEEP_S, Held, Holdings, HoldingsError
from rota.reminders.model import ReminderSpec, Rung

DUE = datetime(2026, 3, 2, 8, 55, tzinfo=UTC)


def _held(job_id: str = "job-1", due_at: datetime = DUE, text: str = "Stand-up") -> Held:
    return Held(job_id=job_id, due_at=due_at, spec=ReminderSpec(text=text))


def _rung(item: Held, late_s: float = 0.01) -> Rung:
    return Rung.at(item.due_at, item.due_at + timedelta(seconds=late_s), "laptop", ("chime",))


def _reopened(path: Path) -> Holdings:
    holdings = Holdings(path)
    holdings.load()
    return holdings


def test_a_missing_file_holds_nothing(tmp_path: Path) -> None:
    holdings = _reopened(tmp_path / "none.json")
    assert holdings.held() == [] and not (tmp_path / "none.json").exists()


def test_what_is_held_survives_a_restart_soonest_first(tmp_path: Path) -> None:
    path = tmp_path / "state" / "laptop.json"
    holdings = Holdings(path)
    later = _held("job-2", DUE + timedelta(hours=1), "Lunch")
    sooner = _held("job-1", DUE, "Stand-up, «room 2»")
    assert holdings.hold(later) == [] and holdings.hold(sooner) == []
    assert _reopened(path).held() == [sooner, later]
    assert [p.name for p in path.parent.iterdir()] == ["laptop.json"]  # no partial file left


def test_a_rung_occurrence_is_remembered_and_never_held_again(tmp_path: Path) -> None:
    path = tmp_path / "laptop.json"
    holdings = Holdings(path)
    item = _held()
    holdings.hold(item)
    holdings.mark_rung(item, _rung(item))
    reopened = _reopened(path)
    assert reopened.held() == []
    assert reopened.rung(item.key) == _rung(item)
    assert reopened.hold(item) == []
    assert reopened.held() == []


def test_a_moved_reminder_replaces_its_old_occurrence(tmp_path: Path) -> None:
    holdings = Holdings(tmp_path / "laptop.json")
    old = _held()
    holdings.hold(old)
    moved = _held(due_at=DUE + timedelta(minutes=5), text="Stand-up, later")
    assert holdings.hold(moved) == [old]
    assert _reopened(holdings.path).held() == [moved]


def test_drop_forgets_the_jobs_occurrences_only(tmp_path: Path) -> None:
    holdings = Holdings(tmp_path / "laptop.json")
    dropped, kept = _held("job-1"), _held("job-2")
    holdings.hold(dropped)
    holdings.hold(kept)
    assert holdings.drop("job-1") == [dropped]
    assert holdings.drop("job-1") == []
    assert _reopened(holdings.path).held() == [kept]


def test_old_rung_occurrences_are_let_go(tmp_path: Path) -> None:
    holdings = Holdings(tmp_path / "laptop.json")
    first = _held("job-1")
    holdings.mark_rung(first, _rung(first))
    much_later = _held("job-2", DUE + timedelta(seconds=RUNG_KEEP_S + 60))
    holdings.mark_rung(much_later, _rung(much_later))
    reopened = _reopened(holdings.path)
    assert reopened.rung(first.key) is None
    assert reopened.rung(much_later.key) is not None


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"held": [], "rung": {"x": {"due_at": "soon"}}}',
        '{"held": [{"job_id": "j", "due_at": "2026-03-02T08:55:00", "text": "naive"}], "rung": {}}',
        '{"held": [{"job_id": "j", "due_at": "2026-03-02T08:55:00Z", "text": ""}], "rung": {}}',
        '{"held": [], "rung": []}',
        '{"held": {}, "rung": {}}',
        '{"held": [], "rung": {"k": []}}',
        '{"held": [["job_id", "j"]], "rung": {}}',
        "null",
        "\u0000",
    ],
)
def test_a_broken_file_is_a_clear_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "laptop.json"
    path.write_text(text)
    with pytest.raises(HoldingsError, match=r"laptop\.json is not a device's file"):
        Holdings(path).load()


def test_the_file_is_plain_json_a_person_can_read(tmp_path: Path) -> None:
    holdings = Holdings(tmp_path / "laptop.json")
    holdings.hold(_held())
    data = json.loads(holdings.path.read_text())
    assert data["held"] == [
        {"job_id": "job-1", "due_at": "2026-03-02T08:55:00+00:00", "text": "Stand-up"}
    ]
