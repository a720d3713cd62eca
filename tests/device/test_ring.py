"""Ringing one reminder: what it does on a machine with a player, without one, with a WAV
folder, with speech, and in quiet hours; and the result that says so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from rota.clock import ManualClock
from rota.device.chime import chime_wav
from rota.device.holdings import Held
from rota.device.quiet import QuietHours
from rota.device.ring import Ringer, RingOptions
from rota.device.sound import BELL, Sound
from rota.reminders.model import ReminderSpec

DUE = datetime(2026, 3, 2, 8, 55, tzinfo=UTC)
WORKS, FAILS = ("true",), ("false",)


def _sound(
    *,
    player: tuple[str, ...] | None = None,
    notifier: tuple[str, ...] | None = None,
    speaker: tuple[str, ...] | None = None,
    bells: list[str] | None = None,
) -> Sound:
    return Sound(
        player=player,
        notifier=notifier,
        speaker=speaker,
        bell=(bells if bells is not None else []).append,
    )


def _ringer(sound: Sound, options: RingOptions, late_s: float = 0.0) -> tuple[Ringer, list[str]]:
    lines: list[str] = []
    clock = ManualClock(DUE + timedelta(seconds=late_s))
    return Ringer("laptop", options, sound, clock=clock, report=lines.append), lines


def _files(directory: Path) -> list[Path]:
    return sorted(directory.iterdir())


def _held(text: str = "Stand-up") -> Held:
    return Held(job_id="job-1", due_at=DUE, spec=ReminderSpec(text=text))


async def test_a_player_plays_the_chime_and_a_notifier_shows_the_text() -> None:
    ringer, lines = _ringer(_sound(player=WORKS, notifier=WORKS), RingOptions())
    rung = await ringer.ring(_held())
    assert rung.via == ("notification", "chime")
    assert (rung.rung_at, rung.late_s, rung.late, rung.device) == (DUE, 0.0, False, "laptop")
    assert lines == ["reminder job-1 due 08:55:00Z: Stand-up"]


async def test_without_a_working_player_it_rings_the_bell_and_logs_the_line() -> None:
    bells: list[str] = []
    ringer, lines = _ringer(_sound(player=FAILS, bells=bells), RingOptions(), late_s=90)
    rung = await ringer.ring(_held())
    assert rung.via == ("bell",) and bells == [BELL]
    assert rung.late and rung.late_s == 90
    assert lines == ["reminder job-1 due 08:55:00Z (90.0s late): Stand-up"]
    ringer, _ = _ringer(_sound(player=None, bells=bells), RingOptions())
    assert (await ringer.ring(_held())).via == ("bell",)


async def test_audio_out_writes_the_chime_instead_of_playing_it(tmp_path: Path) -> None:
    bells: list[str] = []
    ringer, _ = _ringer(_sound(player=FAILS, bells=bells), RingOptions(audio_out=tmp_path))
    rung = await ringer.ring(_held())
    [path] = _files(tmp_path)
    assert rung.via == (f"wav:{path}",)
    assert path.name == "20260302T085500.000000-job-1.wav"
    assert path.read_bytes() == chime_wav() and bells == []


async def test_speak_says_the_text_where_speech_is_found() -> None:
    ringer, _ = _ringer(_sound(player=WORKS, speaker=WORKS), RingOptions(speak=True))
    assert (await ringer.ring(_held())).via == ("chime", "speech")
    ringer, _ = _ringer(_sound(player=WORKS, speaker=None), RingOptions(speak=True))
    assert (await ringer.ring(_held())).via == ("chime",)


async def test_quiet_hours_ring_silently_with_the_notification_only(tmp_path: Path) -> None:
    bells: list[str] = []
    hour = DUE.astimezone().hour  # quiet hours are local wall time
    quiet = QuietHours.parse(f"{hour:02d}:00-{(hour + 1) % 24:02d}:00")
    options = RingOptions(audio_out=tmp_path, speak=True, quiet_hours=quiet)
    sound = _sound(player=WORKS, notifier=WORKS, speaker=WORKS, bells=bells)
    ringer, lines = _ringer(sound, options)
    rung = await ringer.ring(_held())
    assert rung.via == ("quiet", "notification")
    assert _files(tmp_path) == [] and bells == []
    assert len(lines) == 1


async def test_a_text_that_looks_like_an_option_reaches_the_notifier_as_text(
    tmp_path: Path,
) -> None:
    # notify-send and espeak-ng read "-u critical" or "--help" as options without a "--".
    seen = tmp_path / "argv"
    record = ("sh", "-c", f'printf "%s\\n" "$@" > {seen}', "notify-send")
    ringer, _ = _ringer(_sound(notifier=record), RingOptions())
    rung = await ringer.ring(_held("--help"))
    assert "notification" in rung.via
    assert seen.read_text().splitlines()[-3:] == ["--", "Reminder", "--help"]
