"""`rota device`: hold reminders from a server and ring them on this machine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rota.cli.common import state
from rota.cli.times import parse_duration
from rota.cli.worker import CaOption, TokenOption, connection_values


def device(
    ctx: typer.Context,
    name: Annotated[
        str | None,
        typer.Option(help="The device's name: reminders for `--device NAME` come here."),
    ] = None,
    server: Annotated[
        list[str] | None,
        typer.Option(
            "--server",
            "-s",
            help="Server URL; repeat it or give a comma list to fail over between servers.",
        ),
    ] = None,
    tags: Annotated[
        str | None, typer.Option(help="Comma list of more tags, beside device and device:NAME.")
    ] = None,
    audio_out: Annotated[
        Path | None,
        typer.Option(
            "--audio-out",
            metavar="DIR",
            help="Write each chime as a WAV file in DIR instead of playing it.",
        ),
    ] = None,
    speak: Annotated[
        bool, typer.Option("--speak", help="Speak each reminder's text (espeak-ng).")
    ] = False,
    quiet_hours: Annotated[
        str | None,
        typer.Option(
            "--quiet-hours",
            metavar="HH:MM-HH:MM",
            help="Local times in which reminders ring silently (notification only).",
        ),
    ] = None,
    horizon: Annotated[
        str | None,
        typer.Option(
            metavar="DURATION",
            help="How long before they are due reminders are handed over (default: 10m).",
        ),
    ] = None,
    holdings: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="The file of held reminders (default: $XDG_STATE_HOME/rota/device-NAME.json).",
        ),
    ] = None,
    ca: CaOption = None,
    token: TokenOption = None,
    config: Annotated[
        Path | None, typer.Option(help="A rota.toml file (default: ./rota.toml if present).")
    ] = None,
) -> None:
    """Run a device until SIGTERM or SIGINT: hold reminders, ring each by this machine's
    clock at its due time (even with the server down), report when it rang."""
    from rota.settings import load_settings

    settings = load_settings(
        {
            **connection_values(ctx, server, ca, token),
            "name": name,
            "tags": tags,
            "audio_out": audio_out,
            "speak": True if speak else None,
            "quiet_hours": quiet_hours,
            "horizon_s": parse_duration(horizon, "--horizon"),
            "holdings": holdings,
        },
        config_path=config or state(ctx).config,
    )
    if settings.worker.name is None:
        raise typer.BadParameter("name the device (or set worker.name)", param_hint="--name")
    # Imported here so that `rota --help` and the client commands do not load the worker.
    from rota.device.main import run_device

    raise typer.Exit(run_device(settings))
