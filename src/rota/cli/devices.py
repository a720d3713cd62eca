"""`rota devices`: the devices, the reminders each holds, and how far their clocks are off."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from rota.cli.common import open_client, wants_json
from rota.cli.output import age, print_json, stdout, styled_state
from rota.types import Payload

app = typer.Typer(help="List devices and the reminders they hold.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON (as --output json).")]


@app.command("ls")
def list_devices(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List devices: state, last heartbeat, reminders held and waiting, the next one, and
    the device's clock minus the server's."""
    with open_client(ctx) as client:
        devices = client.devices()
    if wants_json(ctx, as_json):
        print_json(devices)
    elif not devices:
        stdout().print("no devices (start one with `rota device --name NAME`)")
    else:
        stdout().print(devices_table(devices))


@app.command("show")
def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The device's name.")],
    as_json: JsonFlag = False,
) -> None:
    """Show one device."""
    with open_client(ctx) as client:
        device = client.device(name)
    if wants_json(ctx, as_json):
        print_json(device)
    else:
        stdout().print(devices_table([device]))


def devices_table(devices: Iterable[Payload]) -> Table:
    """Return a table of devices: state, last seen, held and waiting reminders, the next
    one (when and what), and the clock offset."""
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("NAME", "STATE", "SEEN", "HELD", "WAITING", "NEXT", "CLOCK"):
        table.add_column(name, justify="right" if name in ("HELD", "WAITING", "CLOCK") else "left")
    for device in devices:
        table.add_row(
            escape(str(device["name"])),
            styled_state(str(device["state"])),
            age(device.get("last_seen_at")),
            str(device["held"]),
            str(device["waiting"]),
            _next(device.get("next")),
            offset_text(device.get("clock_offset_s")),
        )
    return table


def offset_text(value: Any) -> str:
    """Return a clock offset in seconds as "+0.120s" / "-1.500s", or "-" when unknown."""
    return "-" if value is None else f"{float(value):+.3f}s"


def _next(upcoming: Payload | None) -> str:
    if not upcoming:
        return "-"
    return f"{age(upcoming['due_at'])}: {escape(str(upcoming['text']))}"
