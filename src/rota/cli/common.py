"""What every command shares: the error line, the client, and argument parsing."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from typer.core import TyperGroup

from rota.client_urls import with_scheme
from rota.errors import InvalidInput, RotaError, ServerUnavailable
from rota.safe_text import excerpt, visible_controls
from rota.types import JSON

if TYPE_CHECKING:
    from rota.sync import Client

PROGRAM = "rota"
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
UNREACHABLE_HINT = "(is it running? start one with `rota dev`)"
ALLOWED_HOSTS_HELP = (
    "Host names the server answers to and trusts web pages of (comma list; * for any; "
    "default: the bound host and this machine's name, beside localhost)."
)


@dataclass(frozen=True, kw_only=True, slots=True)
class CliState:
    """The global options, passed to every command through click's context object."""

    server: str | None = None
    """--server or ROTA_SERVER; None when neither was given (then rota.toml, then the default)."""
    token: str | None = None
    config: Path | None = None
    """--config or ROTA_CONFIG: the rota.toml every command reads."""
    ca: Path | None = None
    """--ca: the CA file https:// servers are verified with (else tls.ca, ROTA_CA)."""
    output: str = "table"
    """--output: how listings print, "table" for people or "json" for scripts."""


GLOBAL_OPTIONS = {
    "--server": True,
    "-s": True,
    "--token": True,
    "--config": True,
    "--ca": True,
    "--output": True,
    "-o": True,
}
"""The root's options (and whether each takes a value), accepted after a subcommand too
(see hoist_globals)."""
HELP_NAMES = ["-h", "--help"]


def error_line(message: str) -> str:
    """Return the one line every failure prints, its control characters shown as escapes
    (the message may quote what a task or another user wrote)."""
    return f"{PROGRAM}: error: {visible_controls(message)}"


def describe(error: RotaError) -> str:
    """Return an error's message, with a hint when the server cannot be reached."""
    if isinstance(error, ServerUnavailable) and error.message.startswith("cannot reach"):
        return f"{error.message} {UNREACHABLE_HINT}"
    return error.message


def fail(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    """Print the error line and leave with the exit code (1 unless told)."""
    typer.echo(error_line(message), err=True)
    raise typer.Exit(code)


def _ancestor(cls: type[Exception], name: str) -> type[Exception]:
    for base in cls.__mro__:
        if base.__name__ == name and issubclass(base, Exception):
            return base
    raise TypeError(f"{cls.__name__} has no base class named {name}")


# Found through typer's public BadParameter, so that it works whether typer uses click
# itself or its own copy of it.
USAGE_ERROR = _ancestor(typer.BadParameter, "UsageError")
CLICK_ERROR = _ancestor(typer.BadParameter, "ClickException")


class RotaGroup(TyperGroup):
    """The top-level command group: turns every failure into one line on stderr.

    RotaError and a Ctrl-C exit 1 and 130; usage errors (bad arguments) exit 2. No
    traceback is ever shown for them.
    """

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        code = self._run(args, prog_name or PROGRAM, complete_var, **extra)
        if standalone_mode:
            sys.exit(code)
        return code

    def _run(
        self,
        args: Sequence[str] | None,
        prog_name: str,
        complete_var: str | None,
        **extra: Any,
    ) -> int:
        argv = list(sys.argv[1:] if args is None else args)
        try:
            self._tidy_help()
            argv = hoist_globals(self, argv)
            result = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        except USAGE_ERROR as exc:
            return _usage_error(exc)
        except CLICK_ERROR as exc:
            typer.echo(error_line(_message(exc)), err=True)
            return int(getattr(exc, "exit_code", EXIT_FAILURE))
        except RotaError as exc:
            typer.echo(error_line(describe(exc)), err=True)
            return EXIT_FAILURE
        except (typer.Abort, KeyboardInterrupt):
            typer.echo(f"{PROGRAM}: interrupted", err=True)
            return EXIT_INTERRUPTED
        # Without standalone mode click returns the exit code of typer.Exit, else None.
        return result if isinstance(result, int) else 0

    def _tidy_help(self) -> None:
        """Show no type beside a flag in --help (typer labels flags `<bool>`, which reads as
        if the flag took a value): a flag's metavar is made empty, the help option's too."""
        pending: list[Any] = [self]
        while pending:
            command = pending.pop()
            pending.extend(getattr(command, "commands", {}).values())
            context = self.context_class(command, help_option_names=HELP_NAMES)
            helper = command.get_help_option(context)
            for param in [*command.params, *([helper] if helper is not None else [])]:
                if getattr(param, "is_flag", False):
                    param.metavar = ""


def hoist_globals(root: Any, argv: list[str]) -> list[str]:
    """Return the arguments with the root's options that were given after a subcommand
    (`rota submit X --server URL`) moved in front of it, where the root reads them; an
    option the subcommand defines itself (`rota worker --server`) stays where it is.
    Nothing after `--` moves."""
    names = GLOBAL_OPTIONS
    command = root
    moved: list[str] = []
    kept: list[str] = []
    index = 0
    while index < len(argv):
        token = argv[index]
        if token == "--":
            kept += argv[index:]
            break
        name, has_value, _ = token.partition("=")
        if name in names and command is not root and not _defines(command, name):
            takes_value = names[name] and not has_value
            moved += argv[index : index + 1 + takes_value]
            index += 1 + takes_value
            continue
        if command is root and name in names:  # the root's own, with its value
            takes_value = names[name] and not has_value
            kept += argv[index : index + 1 + takes_value]
            index += 1 + takes_value
            continue
        child = getattr(command, "commands", {}).get(token)
        if child is not None and not token.startswith("-"):
            command = child
        kept.append(token)
        index += 1
    return moved + kept


def _defines(command: Any, name: str) -> bool:
    return any(name in (*param.opts, *param.secondary_opts) for param in command.params)


def _message(exc: Exception) -> str:
    format_message = getattr(exc, "format_message", None)
    text = str(format_message() if callable(format_message) else exc)
    # typer checks values with pydantic, whose messages start so; the rest says it all.
    return text.replace("Value error, ", "")


def _usage_error(exc: Exception) -> int:
    ctx = getattr(exc, "ctx", None)
    if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
        # A group called without a command: its help is the answer, not an error.
        typer.echo(ctx.get_help())
        return 0
    where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
    typer.echo(error_line(_message(exc) + where), err=True)
    return EXIT_USAGE


def state(ctx: typer.Context) -> CliState:
    """Return the global options of this invocation."""
    root = ctx.find_root()
    return root.obj if isinstance(root.obj, CliState) else CliState()


def wants_json(ctx: typer.Context, as_json: bool = False) -> bool:
    """Tell whether a listing prints JSON: its --json flag, or --output json."""
    return as_json or state(ctx).output == "json"


@dataclass(frozen=True, kw_only=True, slots=True)
class ClientTarget:
    """The server client commands talk to, and how."""

    server: str
    token: str | None
    ca: Path | None
    """The CA file an https:// server's certificate is verified with (None: the system's)."""


def client_target(ctx: typer.Context) -> ClientTarget:
    """Return the server, token and CA for client commands: flags, ROTA_*, rota.toml, defaults.

    The URL is the first of worker.server (the servers workers use); the token is auth.token;
    the CA is tls.ca.
    """
    from rota.settings import load_settings  # pydantic: loaded by the commands that need it

    options = state(ctx)
    settings = load_settings(
        {"server": options.server, "token": options.token, "ca": options.ca},
        config_path=options.config,
        flags={"ca": "--ca"},
    )
    return ClientTarget(
        server=settings.worker.server[0], token=settings.auth.token, ca=settings.tls.ca
    )


@contextmanager
def open_client(ctx: typer.Context, *, timeout_s: float = 10.0) -> Iterator[Client]:
    """Yield a sync client for the server the global options name, closed afterwards."""
    from rota.sync import Client  # httpx: loaded by the commands that talk to a server

    target = client_target(ctx)
    client = Client(
        with_scheme(target.server), token=target.token, timeout_s=timeout_s, ca=target.ca
    )
    try:
        yield client
    finally:
        client.close()


def parse_value(text: str) -> JSON:
    """Return the text parsed as JSON when it parses, else the text itself (InvalidInput
    when it is nested too deeply for the parser)."""
    try:
        value: JSON = json.loads(text)
    except ValueError:
        return text
    except RecursionError:
        raise InvalidInput(f"{text[:20]}...: nested too deeply to read as JSON") from None
    return value


def parse_kwargs(pairs: Sequence[str]) -> dict[str, JSON]:
    """Return key=value pairs as a dict, each value parsed as by parse_value."""
    kwargs: dict[str, JSON] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise typer.BadParameter(
                f"{excerpt(pair)} is not key=value with a Python name as key",
                param_hint="--kwarg",
            )
        kwargs[key] = parse_value(value)
    return kwargs


def split_list(values: Sequence[str] | None) -> list[str] | None:
    """Return repeated and comma-separated values as one list (None when none given)."""
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def require(condition: bool, message: str) -> None:
    """Raise InvalidInput with the message unless the condition holds."""
    if not condition:
        raise InvalidInput(message)
