"""Occurrences of real calendar exports (Google, Outlook/Exchange, Apple), in UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from rota.calendar.expand import occurrences_between
from rota.calendar.reading import calendar_events, compact_text, read_calendar
from rota.errors import InvalidCalendar, InvalidInput
from rota.scheduling.calendar_trigger import CalendarTrigger

FIXTURES = Path(__file__).parent / "fixtures"
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
YEAR = (datetime(2031, 1, 1, tzinfo=UTC), datetime(2032, 1, 1, tzinfo=UTC))


def starts(name: str, zone: ZoneInfo, summary_start: str) -> list[tuple[str, str | None, str]]:
    calendar = read_calendar((FIXTURES / name).read_text())
    return [
        (o.start_at.isoformat(), o.recurrence_id, o.summary)
        for o in occurrences_between(calendar, *YEAR, zone)
        if o.summary.startswith(summary_start)
    ]


def test_google_weekly_across_dst_with_exdate_and_override() -> None:
    found = starts("google.ics", BERLIN, "Stand-up")[:6]
    assert found == [
        ("2031-03-17T08:00:00+00:00", "2031-03-17T08:00:00+00:00", "Stand-up"),
        ("2031-03-24T08:00:00+00:00", "2031-03-24T08:00:00+00:00", "Stand-up"),
        # 09:00 Berlin is 07:00 UTC once the clocks go forward on 30 March
        ("2031-03-31T07:00:00+00:00", "2031-03-31T07:00:00+00:00", "Stand-up"),
        # 7 April is an EXDATE; 14 April moved to 11:30
        ("2031-04-14T09:30:00+00:00", "2031-04-14T07:00:00+00:00", "Stand-up (moved)"),
        ("2031-04-21T07:00:00+00:00", "2031-04-21T07:00:00+00:00", "Stand-up"),
        ("2031-04-28T07:00:00+00:00", "2031-04-28T07:00:00+00:00", "Stand-up"),
    ]


def test_google_utc_times_recur_in_x_wr_timezone() -> None:
    # DTSTART 17:00Z with X-WR-TIMEZONE Europe/Berlin: 18:00 Berlin every day, so 16:00Z
    # after the change. Read as plain UTC it would stay at 17:00Z.
    assert [start for start, _, _ in starts("google.ics", BERLIN, "Gym")] == [
        "2031-03-28T17:00:00+00:00",
        "2031-03-29T17:00:00+00:00",
        "2031-03-30T16:00:00+00:00",
        "2031-03-31T16:00:00+00:00",
    ]


def test_google_single_all_day_and_cancelled_events() -> None:
    assert starts("google.ics", BERLIN, "Dentist") == [
        ("2031-04-02T13:00:00+00:00", None, "Dentist")
    ]
    # an all-day event starts at midnight in the zone given
    assert starts("google.ics", BERLIN, "Mum") == [
        ("2031-04-04T22:00:00+00:00", None, "Mum's birthday")
    ]
    assert starts("google.ics", BERLIN, "Cancelled") == []


def test_outlook_windows_zone_names() -> None:
    found = starts("outlook.ics", BERLIN, "Team sync")[:5]
    assert [(start, summary) for start, _, summary in found] == [
        ("2031-02-27T15:00:00+00:00", "Team sync"),
        ("2031-03-06T18:00:00+00:00", "Team sync (moved)"),
        # Eastern daylight time from 9 March: 10:00 is 14:00 UTC; 20 March is an EXDATE
        ("2031-03-13T14:00:00+00:00", "Team sync"),
        ("2031-03-27T14:00:00+00:00", "Team sync"),
        ("2031-04-03T14:00:00+00:00", "Team sync"),
    ]
    assert found[1][1] == "2031-03-06T15:00:00+00:00"
    assert starts("outlook.ics", BERLIN, "Quarterly") == [
        ("2031-04-15T12:00:00+00:00", None, "Quarterly review")
    ]


def test_apple_vtimezone_rules_rdate_and_all_day_series() -> None:
    assert [start for start, _, _ in starts("apple.ics", NEW_YORK, "Piano")] == [
        "2031-10-25T14:00:00+00:00",
        "2031-11-01T14:00:00+00:00",
        "2031-11-08T15:00:00+00:00",  # standard time from 2 November
        "2031-11-12T23:00:00+00:00",  # the RDATE
    ]
    assert starts("apple.ics", NEW_YORK, "Bin") == [
        ("2031-11-03T05:00:00+00:00", "2031-11-03", "Bin day"),
        ("2031-11-10T05:00:00+00:00", "2031-11-10", "Bin day"),
    ]


def test_events_group_a_series_with_its_overrides_and_drop_volatile_fields() -> None:
    text = (FIXTURES / "google.ics").read_text()
    events = {event.summary: event for event in calendar_events(read_calendar(text), text)}
    standup = events["Stand-up"]
    assert standup.recurring and standup.line == 26
    assert standup.text.count("BEGIN:VEVENT") == 2
    assert "DTSTAMP" not in standup.text and "DESCRIPTION" not in standup.text
    assert not events["Dentist"].recurring
    again = text.replace("DTSTAMP:20261130T120000Z", "DTSTAMP:20270101T000000Z")
    assert [e.text for e in calendar_events(read_calendar(again), again)] == [
        e.text for e in events.values()
    ]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (("DTSTART:20310402T130000Z", "DTSTART:2031-04-02"), "line 75: DTSTART"),
        (("SUMMARY:Dentist", "SUMMARY Dentist"), "line 83: not an iCalendar line"),
        (
            ("RRULE:FREQ=DAILY;COUNT=4", "RRULE:FREQ=SOMETIMES"),
            "line 64: RRULE: Expected",
        ),
        (
            ("END:VEVENT\r\nBEGIN:VEVENT\r\nDTSTART:20310402", "BEGIN:VEVENT\r\nDTSTART:20310402"),
            "line 106: END:VCALENDAR does not close BEGIN:VEVENT of line 61",
        ),
        (
            ("UID:3u5t7v9x1z2b4d6f8h0j@google.com\r\n", ""),
            "line 74: the event that begins here",
        ),
        (("END:VCALENDAR\r\n", ""), "line 1: BEGIN:VCALENDAR is never closed"),
        (
            ("DTEND:20310402T140000Z", "DTEND:20310402T120000Z"),
            r"line 76: DTEND: the event ends \(2031-04-02T12:00:00\+00:00\) before it starts",
        ),
        (
            ("DTEND:20310402T140000Z", "DTEND;VALUE=DATE:20310403"),
            "line 76: DTEND: a date and a time do not mix",
        ),
        (
            ("DTEND:20310402T140000Z", "DURATION:-PT1H"),
            "line 76: DURATION: the event lasts less than nothing",
        ),
        (
            ("DTEND:20310402T140000Z", "DTEND:20310402T140000Z\r\nDURATION:PT1H"),
            "line 77: DURATION: an event has DTEND or DURATION, not both",
        ),
    ],
)
def test_malformed_file_names_the_line(change: tuple[str, str], words: str) -> None:
    raw = (FIXTURES / "google.ics").read_bytes().decode()
    assert change[0] in raw
    with pytest.raises(InvalidCalendar, match=f"^{words}"):
        read_calendar(raw.replace(change[0], change[1], 1))


def test_compact_text_keeps_every_event_as_the_file_has_it() -> None:
    for path in sorted(FIXTURES.glob("*.ics")):
        text = path.read_text()
        compact = compact_text(read_calendar(text))
        assert len(compact) < len(text)
        assert [e.text for e in calendar_events(read_calendar(compact), compact)] == [
            e.text for e in calendar_events(read_calendar(text), text)
        ]


def test_a_windows_zone_name_without_vtimezone_is_read_as_its_iana_zone() -> None:
    text = "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//Microsoft Corporation//Outlook 16.0 MIMEDIR//EN",
            "BEGIN:VEVENT",
            "UID:no-vtimezone",
            "SUMMARY:Board",
            "DTSTART;TZID=W. Europe Standard Time:20311025T090000",
            "RRULE:FREQ=DAILY;COUNT=3",
            "END:VEVENT",
            "END:VCALENDAR",
            "",
        ]
    )
    found = occurrences_between(read_calendar(text), *YEAR, BERLIN)
    # 26 October 2031 ends summer time in Berlin: 09:00 is 08:00 UTC from then on
    assert [o.start_at.isoformat() for o in found] == [
        "2031-10-25T07:00:00+00:00",
        "2031-10-26T08:00:00+00:00",
        "2031-10-27T08:00:00+00:00",
    ]


def dense(rule: str) -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:dense@x\r\n"
        f"DTSTART:20310101T100000Z\r\nRRULE:{rule}\r\nSUMMARY:tick\r\nEND:VEVENT\r\n"
        "END:VCALENDAR\r\n"
    )


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "rule",
    ["FREQ=SECONDLY", "FREQ=MINUTELY", "FREQ=HOURLY;BYMINUTE=" + ",".join(map(str, range(60)))],
)
def test_a_rule_every_few_seconds_or_minutes_is_refused_naming_its_line(rule: str) -> None:
    # Expanding it used to hold the server for minutes and gigabytes (it never answered).
    with pytest.raises(InvalidCalendar, match=r"^line 7: RRULE .*more than 1000 occurrences"):
        read_calendar(dense(rule))


@pytest.mark.timeout(30)
def test_a_calendar_schedule_of_a_rule_every_second_is_refused() -> None:
    with pytest.raises(InvalidInput, match="more than 1000 occurrences"):
        CalendarTrigger(dense("FREQ=SECONDLY"), ZoneInfo("UTC"))


def test_a_rule_every_five_minutes_is_still_expanded() -> None:
    trigger = CalendarTrigger(dense("FREQ=MINUTELY;INTERVAL=5"), ZoneInfo("UTC"))
    first = trigger.next_after(datetime(2031, 1, 1, 10, 2, tzinfo=UTC))
    assert first == datetime(2031, 1, 1, 10, 5, tzinfo=UTC)


def test_a_window_that_ends_before_it_starts_is_refused() -> None:
    calendar = read_calendar((FIXTURES / "google.ics").read_text())
    with pytest.raises(InvalidInput, match=r"^the window ends"):
        occurrences_between(calendar, YEAR[1], YEAR[0], BERLIN)
