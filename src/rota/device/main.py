"""The `rota device` entry point: build the device from settings, handle signals, run."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable

from rota.device.holdings import Holdings, HoldingsError
from rota.device.quiet import QuietHours
from rota.device.ring import Ringer, RingOptions
from rota.device.runtime import Device, default_holdings_path
from rota.device.sound import Sound
from rota.errors import InvalidInput, ServerNotTrusted, WorkerNameTaken
from rota.settings import Settings
from rota.worker.capture import capturing
from rota.worker.connection import write_stderr
from rota.worker.main import EXIT_OK, EXIT_UNDELIVERED, EXIT_USAGE, serve_signals


def build_device(settings: Settings) -> Device:
    """Return the device the settings describe; raise InvalidInput for a nameless one."""
    name = settings.worker.name
    if name is None:
        raise InvalidInput("a device needs a name (--name)")
    options = settings.device
    report = _reporter(name)
    ringer = Ringer(
        name,
        RingOptions(
            audio_out=options.audio_out,
            speak=options.speak,
            quiet_hours=None
            if options.quiet_hours is None
            else QuietHours.parse(options.quiet_hours),
        ),
        Sound.find(bell=_bell),
        report=report,
    )
    path = options.holdings or default_holdings_path(name, os.environ)
    return Device(settings, holdings=Holdings(path), ringer=ringer, report=report)


def run_device(settings: Settings) -> int:
    """Run a device until SIGTERM/SIGINT (a second one stops it at once); return the exit
    code: 0 after a clean stop, 1 if results could not be delivered, 2 for bad settings or
    an unreadable file of held reminders."""
    try:
        device = build_device(settings)
    except InvalidInput as exc:
        write_stderr(f"rota device: error: {exc}")
        return EXIT_USAGE

    async def main() -> int:
        try:
            delivered = await serve_signals(device.run(), device.request_drain, device.request_stop)
        except (HoldingsError, WorkerNameTaken, ServerNotTrusted) as exc:
            write_stderr(f"rota device: error: {exc}")
            return EXIT_USAGE
        return EXIT_OK if delivered else EXIT_UNDELIVERED

    with capturing():
        return asyncio.run(main())


def _reporter(name: str) -> Callable[[str], None]:
    def report(line: str) -> None:
        write_stderr(f"rota device {name}: {line}" if not line.startswith("rota ") else line)

    return report


def _bell(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()
