"""`rota config`: the effective settings and where each came from, and docs/config.md."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from rota.cli.common import state, wants_json
from rota.cli.output import print_json, stdout

if TYPE_CHECKING:
    from rota.settings import LoadedSettings

# The settings and their model (pydantic) are imported by each command as it runs.

app = typer.Typer(help="Show the effective settings, or the reference of every key.")


ConfigOption = Annotated[
    Path | None,
    typer.Option(help="A rota.toml file (default: $ROTA_CONFIG, else ./rota.toml if present)."),
]


@app.command("show")
def show(
    ctx: typer.Context,
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (as --output json).")] = False,
) -> None:
    """Print every setting a command run here would use, and where each came from."""
    from rota.settings import load_settings_with_origins
    from rota.settings_doc import display_value

    options, root = state(ctx), ctx.find_root()
    given = {  # the global options, when they were typed (their variables are read below)
        key: value
        for key, parameter, value in (
            ("server", "server_url", options.server),
            ("token", "token", options.token),
        )
        if _typed(root, parameter)
    }
    loaded = load_settings_with_origins(
        given,
        config_path=config or options.config,
        flags={"server": "--server", "token": "--token"},
    )
    rows = settings_rows(loaded)
    if wants_json(ctx, as_json):
        file = None if loaded.config_file is None else str(loaded.config_file)
        print_json({"config_file": file, "settings": rows})
        return
    found = "none found" if loaded.config_file is None else str(loaded.config_file)
    stdout().print(f"config file: {escape(found)}\n")
    table = Table(box=None, pad_edge=False)
    for column in ("key", "value", "from"):
        table.add_column(column)
    for row in rows:
        value = display_value(row["value"])
        table.add_row(escape(row["key"]), escape(value), escape(row["from"] or "default"))
    stdout().print(table)


def _typed(ctx: Any, parameter: str) -> bool:
    """Return True when the (click) context's parameter was given on the command line."""
    source = ctx.get_parameter_source(parameter)
    return source is not None and source.name == "COMMANDLINE"


@app.command("docs")
def docs() -> None:
    """Print docs/config.md, the reference of every key, written from the settings model."""
    from rota.settings_doc import render_config_doc

    typer.echo(render_config_doc(), nl=False)


def settings_rows(loaded: LoadedSettings) -> list[dict[str, Any]]:
    """Return one row per setting: key, section, value (secrets masked), source and origin.

    source is "flag", "env", "file" or "default"; "from" names the variable, the file or the
    flag, and is None for a default.
    """
    from rota.settings import SECTIONS
    from rota.settings_doc import SECRET_KEYS

    rows: list[dict[str, Any]] = []
    for section, model in SECTIONS.items():
        values = getattr(loaded.settings, section)
        for key in model.model_fields:
            value = getattr(values, key)
            if key in SECRET_KEYS and value is not None:
                value = "***"
            elif isinstance(value, Path):
                value = str(value)
            origin = loaded.origins[f"{section}.{key}"]
            rows.append(
                {
                    "key": f"{section}.{key}",
                    "section": section,
                    "value": value,
                    "source": origin.kind,
                    "from": None if origin.kind == "default" else str(origin),
                }
            )
    return rows
