"""Ringing one reminder: the chime (or its WAV, or the bell), the notification and speech,
then the result that says when and how it rang."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rota.clock import SYSTEM_CLOCK, Clock
from rota.device.chime import chime_wav
from rota.device.holdings import Held
from rota.device.quiet import QuietHours
from rota.device.sound import Sound, write_wav
from rota.reminders.model import Rung


@dataclass(frozen=True, kw_only=True, slots=True)
class RingOptions:
    """How a device rings: where WAVs go instead of the speaker, speech, quiet hours."""

    audio_out: Path | None = None
    speak: bool = False
    quiet_hours: QuietHours | None = None


class Ringer:
    """Rings reminders on this machine and returns each one's result."""

    def __init__(
        self,
        device: str,
        options: RingOptions,
        sound: Sound,
        *,
        clock: Clock = SYSTEM_CLOCK,
        report: Callable[[str], None],
    ) -> None:
        self._device = device
        self._options = options
        self._sound = sound
        self._clock = clock
        self._report = report
        self._wav = chime_wav()  # made once: ringing must not wait for synthesis

    async def ring(self, item: Held) -> Rung:
        """Ring the reminder now and return its result (`rung_at` is this moment)."""
        rung_at = self._clock.now_utc()
        text = item.spec.text
        quiet = self._options.quiet_hours
        silent = quiet is not None and rung_at.astimezone() in quiet
        via: list[str] = []
        if silent:
            via.append("quiet")
        elif self._options.audio_out is not None:
            path = await asyncio.to_thread(
                write_wav, self._options.audio_out, self._wav, item.job_id, rung_at
            )
            via.append(f"wav:{path}")
        late_s = (rung_at - item.due_at).total_seconds()
        late = f" ({late_s:.1f}s late)" if late_s > 1 else ""
        self._report(f"reminder {item.job_id} due {item.due_at:%H:%M:%S}Z{late}: {text}")
        notify = asyncio.create_task(self._sound.notify("Reminder", text))
        play = speak = None
        if not silent and self._options.audio_out is None:
            play = asyncio.create_task(self._sound.play(self._wav))
        if not silent and self._options.speak:
            speak = asyncio.create_task(self._sound.speak(text))
        if await notify:
            via.append("notification")
        if play is not None:
            via.append(await play)
        if speak is not None and await speak:
            via.append("speech")
        return Rung.at(item.due_at, rung_at, self._device, tuple(via))
