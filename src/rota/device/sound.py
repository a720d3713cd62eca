"""How a device makes itself heard and seen: the chime through the platform's player (or a
WAV file, or the terminal bell), a desktop notification, and speech.

Players, in the order tried: paplay (PulseAudio/PipeWire), aplay (ALSA), afplay (macOS),
and on Windows the standard library's winsound. A player that is missing or fails (no sound
device) falls back to the terminal bell. Notifications use notify-send where it exists
(Linux desktops), osascript on macOS; speech uses espeak-ng (or espeak). Each returns the
`via` words of the reminder's result (rota.reminders.model.Rung) for what it did.
"""

from __future__ import annotations

import asyncio
import importlib
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Final

PLAY_TIMEOUT_S: Final = 10.0
SPEAK_TIMEOUT_S: Final = 60.0
PLAYERS: Final = (("paplay",), ("aplay", "-q"), ("afplay",))
BELL: Final = "\a"

Which = Callable[[str], str | None]
Write = Callable[[str], None]


@dataclass(kw_only=True, slots=True)
class Sound:
    """What this machine offers, found once when the device starts."""

    player: tuple[str, ...] | None
    notifier: tuple[str, ...] | None
    speaker: tuple[str, ...] | None
    winsound: bool = False
    bell: Write = field(default=lambda text: None)

    @classmethod
    def find(
        cls, *, which: Which = shutil.which, platform: str = sys.platform, bell: Write
    ) -> Sound:
        """Return the players, notifier and speech found on this machine's PATH."""
        player = next(
            ((found, *rest) for name, *rest in PLAYERS if (found := which(name)) is not None),
            None,
        )
        notifier: tuple[str, ...] | None = None
        if (found := which("notify-send")) is not None:
            notifier = (found, "--app-name=Rota", "--urgency=normal")
        elif platform == "darwin" and (found := which("osascript")) is not None:
            notifier = (found,)
        speaker = next(
            ((found,) for name in ("espeak-ng", "espeak") if (found := which(name)) is not None),
            None,
        )
        return cls(
            player=player,
            notifier=notifier,
            speaker=speaker,
            winsound=platform == "win32",
            bell=bell,
        )

    async def play(self, wav: bytes) -> str:
        """Play the chime; return `chime`, or `bell` when no player could play it."""
        with tempfile.TemporaryDirectory(prefix="rota-chime-") as directory:
            path = Path(directory) / "chime.wav"
            await asyncio.to_thread(path.write_bytes, wav)
            if self.winsound and await asyncio.to_thread(_play_windows, path):
                return "chime"
            if self.player is not None and await _run([*self.player, str(path)], PLAY_TIMEOUT_S):
                return "chime"
        self.bell(BELL)
        return "bell"

    async def notify(self, title: str, text: str) -> bool:
        """Show a desktop notification; return whether one was shown."""
        if self.notifier is None:
            return False
        if Path(self.notifier[0]).name.startswith("osascript"):
            script = f"display notification {_quoted(text)} with title {_quoted(title)}"
            return await _run([*self.notifier, "-e", script], PLAY_TIMEOUT_S)
        return await _run([*self.notifier, "--", title, text], PLAY_TIMEOUT_S)

    async def speak(self, text: str) -> bool:
        """Say the text aloud; return whether it was spoken."""
        if self.speaker is None:
            return False
        return await _run([*self.speaker, "--", text], SPEAK_TIMEOUT_S)


def write_wav(directory: Path, wav: bytes, job_id: str, rung_at: datetime) -> Path:
    """Write a chime into `directory` as `<time>-<job id>.wav` and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = rung_at.strftime("%Y%m%dT%H%M%S.%f")
    path = directory / f"{stamp}-{job_id}.wav"
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(wav)
    partial.replace(path)  # a reader never sees half a file
    return path


async def _run(command: Sequence[str], timeout_s: float) -> bool:
    """Run a helper program quietly; return whether it succeeded in time."""
    try:
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
    except OSError:
        return False
    try:
        async with asyncio.timeout(timeout_s):
            return await process.wait() == 0
    except TimeoutError:
        process.kill()
        await process.wait()
        return False


def _play_windows(path: Path) -> bool:
    try:
        winsound = importlib.import_module("winsound")  # Windows only
        winsound.PlaySound(str(path), winsound.SND_FILENAME)
    except (ImportError, RuntimeError, OSError):
        return False
    return True


def _quoted(text: str) -> str:
    """Return text as an AppleScript string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
