"""docs/config.md, written from the settings model so that it cannot drift from it."""

from __future__ import annotations

import json
import types
import typing
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo

from rota.settings import DEFAULT_CONFIG_FILE, SECTION_SEPARATOR, SECTIONS, env_name

SECRET_KEYS = frozenset({"token"})
"""Keys whose values are never printed."""

_INTRO = f"""\
# Configuration

<!-- Written by `rota config docs > docs/config.md` from src/rota/settings.py; do not edit. -->

Every `rota` command takes each setting from the first of these that gives it:

1. a flag on the command line (`rota server --port 9000`);
2. an environment variable, `ROTA_<KEY>` (`ROTA_PORT=9000`), or with its section,
   `ROTA_<SECTION>{SECTION_SEPARATOR}<KEY>` (`ROTA_SERVER{SECTION_SEPARATOR}PORT=9000`);
3. `{DEFAULT_CONFIG_FILE}` in the current folder, or the file named by `--config` or
   `ROTA_CONFIG`, with one table per section;
4. the default below.

Settings live in sections, one for each part of Rota that reads them. Every key is unique
across the sections, which is why `ROTA_<KEY>` needs no section. An unknown key, a key in the
wrong section or a value out of range stops the command with an error that names the key and
the file or variable it came from.

`rota config show` prints the settings a command run here would use and where each came
from (`--output json` for scripts):

```console
$ ROTA_LEASE_S=10 rota config show
config file: /srv/rota/rota.toml

key                 value                        from
server.lease_s      10                           ROTA_LEASE_S
store.db            "jobs.db"                    /srv/rota/rota.toml
…
```

A `{DEFAULT_CONFIG_FILE}`:

```toml
[server]
host = "0.0.0.0"
port = 8077

[store]
db = "postgresql://rota@db/rota"

[worker]
server = ["http://10.0.0.1:8077", "http://10.0.0.2:8077"]
concurrency = 8
queues = ["default", "mail"]
```

Lists can also be given as comma lists (`ROTA_QUEUES=default,mail`).
"""


def render_config_doc() -> str:
    """Return the text of docs/config.md: precedence, then each section's keys in a table."""
    parts = [_INTRO]
    for section, model in SECTIONS.items():
        parts.append(f"\n## [{section}]\n\n{_first_paragraph(model.__doc__)}\n")
        if not model.model_fields:
            parts.append("\nNo keys yet.\n")
            continue
        parts.append("\n| key | type | default | environment | meaning |\n|---|---|---|---|---|\n")
        for key, field in model.model_fields.items():
            cells = [
                f"`{key}`",
                "seconds" if key.endswith("_s") else type_name(field.annotation),
                f"`{display_default(field)}`",
                f"`{env_name(key)}`",
                (field.description or "").replace("|", "\\|"),
            ]
            parts.append("| " + " | ".join(cells) + " |\n")
    return "".join(parts)


def type_name(annotation: Any) -> str:
    """Return a reader's name for a field's type: "integer", "list of text", "one of …"."""
    if typing.get_origin(annotation) is typing.Literal:
        return "one of " + ", ".join(f'"{choice}"' for choice in typing.get_args(annotation))
    if typing.get_origin(annotation) in {typing.Union, types.UnionType}:
        choices = [type_name(arg) for arg in typing.get_args(annotation) if arg is not type(None)]
        return " or ".join(choices) + " (optional)"
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation)
        return f"list of {type_name(item)}"
    names: dict[Any, str] = {
        str: "text",
        int: "integer",
        float: "number",
        bool: "true or false",
        Path: "path",
    }
    return names.get(annotation) or str(getattr(annotation, "__name__", annotation))


def display_default(field: FieldInfo) -> str:
    """Return a field's default as it would be written in rota.toml ("none" for no value)."""
    return display_value(field.get_default(call_default_factory=True))


def display_value(value: Any) -> str:
    """Return a setting's value as TOML-like text ("none" for no value)."""
    if value is None:
        return "none"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Path):
        value = str(value)
    return json.dumps(value, ensure_ascii=False)


def _first_paragraph(text: str | None) -> str:
    return " ".join((text or "").strip().split("\n\n")[0].split())
