"""Values a task or another user wrote reach the terminal with their control characters
shown, not obeyed: a logged line cannot set the title, clear the screen or write the
clipboard. Rota's own colours still work, text in any script prints as it is, and JSON keeps
the exact values."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest
from rich.text import Text
from typer.testing import CliRunner, Result

from rota.cli import output
from rota.cli.main import app
from rota.jobs import Event, Lease
from rota.safe_text import visible_controls
from rota.store.base import AcquireRequest
from tests.client.live import LiveServer

# A window title (OSC 0, ended by BEL), the clipboard (OSC 52), a screen clear (CSI 2J),
# a carriage return and a C1 CSI (U+009B) that some terminals obey as ESC [.
HOSTILE = "a\x1b]0;pwned\x07b \x1b]52;c;aGk=\x07 \x1b[2J\rc\x9b31md\x7f"
SHOWN = "a\\x1b]0;pwned\\x07b \\x1b]52;c;aGk=\\x07 \\x1b[2J\\x0dc\\x9b31md\\x7f"
UNICODE = "café naïve 東京 🎉 Ωmega — ünïcödé"
RAW = ("\x1b", "\x07", "\x9b", "\r", "\x7f")


def rota(live: LiveServer, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, ["--server", live.url, *args], env=env)


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.stderr
    return result.stdout


def assert_safe(text: str) -> None:
    for char in RAW:
        assert char not in text, repr(text)


def submit(live: LiveServer, *args: str) -> str:
    return ok(rota(live, "submit", "rota.echo", "x", *args)).strip()


async def _claim(live: LiveServer, worker: str, queue: str = "default") -> Lease:
    [job] = await live.store.acquire(AcquireRequest(worker=worker, queues=[queue]))
    assert job.lease_token is not None
    return Lease(job_id=job.id, token=job.lease_token)


def test_visible_controls_shows_c0_del_and_c1_and_keeps_the_rest() -> None:
    assert visible_controls(HOSTILE) == SHOWN
    assert visible_controls("line\n\tindented") == "line\n\tindented"
    assert visible_controls(UNICODE) == UNICODE
    assert visible_controls("\x00\x1f\x80\x9f\xa0") == "\\x00\\x1f\\x80\\x9f\xa0"


def test_a_logged_line_is_shown_not_obeyed_by_jobs_logs(live_server: LiveServer) -> None:
    job_id = submit(live_server)
    line = Event(
        job_id=job_id, attempt=1, at=datetime.now(UTC), kind="log", worker="w", message=HOSTILE
    )
    live_server.run(live_server.store.log([line]))
    for follow in ([], ["--follow"]):
        if follow:
            live_server.run(live_server.store.cancel(job_id))  # finished: --follow returns
        logs = ok(rota(live_server, "jobs", "logs", job_id, *follow))
        assert_safe(logs)
        assert SHOWN in logs
    # On a terminal Rota's own colours are still there, around the shown value.
    colored = ok(rota(live_server, "jobs", "logs", job_id, env={"FORCE_COLOR": "1"}))
    assert "\x1b[1m" in colored and "\x1b[2m" in colored  # bold kind, dim time
    assert SHOWN in colored and "\x1b]" not in colored and "\x9b" not in colored


def test_an_error_and_traceback_are_shown_not_obeyed(live_server: LiveServer) -> None:
    job_id = submit(live_server, "--max-attempts", "1")
    traceback = f"Traceback (most recent call last):\n  File 'x.py'\nValueError: {HOSTILE}\n"

    async def fail() -> None:
        lease = await _claim(live_server, "w")
        await live_server.store.fail(
            lease, error=f"ValueError: {HOSTILE}", traceback=traceback, retryable=False
        )

    live_server.run(fail())
    shown = ok(rota(live_server, "jobs", "show", job_id))
    assert_safe(shown)
    assert shown.count(SHOWN) == 3  # the error, the traceback's last line and the log
    attempts = ok(rota(live_server, "jobs", "attempts", job_id))  # the traceback as it is
    assert_safe(attempts)
    assert f"ValueError: {SHOWN}" in attempts
    waited = rota(live_server, "jobs", "wait", job_id)
    assert waited.exit_code == 1
    assert_safe(waited.stderr)
    assert f"failed: ValueError: {SHOWN}" in waited.stderr
    # JSON keeps the exact values, for scripts, and stays valid.
    exact = json.loads(ok(rota(live_server, "jobs", "show", job_id, "--json")))
    assert exact["error"] == f"ValueError: {HOSTILE}" and exact["traceback"] == traceback


def test_jobs_logs_json_keeps_the_values_and_obeys_no_control(live_server: LiveServer) -> None:
    """As a list, and with --follow a line each: the same values, C1 and DEL as escapes."""
    job_id = submit(live_server)
    line = Event(
        job_id=job_id, attempt=1, at=datetime.now(UTC), kind="log", worker="w", message=HOSTILE
    )
    live_server.run(live_server.store.log([line]))
    live_server.run(live_server.store.cancel(job_id))  # finished: --follow returns
    listed = ok(rota(live_server, "jobs", "logs", job_id, "--json"))
    followed = ok(rota(live_server, "jobs", "logs", job_id, "--json", "--follow"))
    for text in (listed, followed):
        assert_safe(text)
    events = [json.loads(text) for text in followed.splitlines()]
    assert events == json.loads(listed)
    assert [event["message"] for event in events if event["kind"] == "log"] == [HOSTILE]


def test_a_name_in_a_table_is_shown_not_obeyed(live_server: LiveServer) -> None:
    submit(live_server, "--queue", "odd")
    live_server.run(_claim(live_server, HOSTILE, queue="odd"))
    listing = ok(rota(live_server, "jobs", "ls"))
    assert_safe(listing)
    assert SHOWN in listing
    # The columns are laid out for the text shown: the row is as wide as the header says.
    header, row = listing.splitlines()[:2]
    assert row.index(SHOWN) == header.index("WORKER")
    assert header.index("CREATED") > row.index(SHOWN) + len(SHOWN)


def test_text_in_any_script_prints_unchanged(live_server: LiveServer) -> None:
    job_id = ok(rota(live_server, "submit", "rota.echo", UNICODE, "--queue", "u")).strip()
    live_server.run(_claim(live_server, UNICODE, queue="u"))
    line = Event(job_id=job_id, attempt=1, at=datetime.now(UTC), kind="log", message=UNICODE)
    live_server.run(live_server.store.log([line]))
    assert UNICODE in ok(rota(live_server, "jobs", "logs", job_id))
    assert UNICODE in ok(rota(live_server, "jobs", "ls"))  # the worker's name
    assert ok(rota(live_server, "jobs", "show", job_id)).count(UNICODE) == 4  # args, worker, log x2
    assert UNICODE in ok(rota(live_server, "jobs", "show", job_id, "--json"))


def test_every_renderable_is_shown_not_obeyed() -> None:
    """Beside strings (markup or not), Text objects, as the wait's status line makes, while
    rich's own styles and control codes (cursor moves) still reach the terminal."""
    from rich.control import Control

    assert isinstance(output.stdout(), output.HumanConsole)
    assert isinstance(output.stderr(), output.HumanConsole)
    file = io.StringIO()
    shown = output.HumanConsole(
        file=file, force_terminal=True, color_system="standard", highlight=False
    )
    shown.print(Text(HOSTILE, style="bold"))
    shown.print(HOSTILE, markup=False)
    shown.print(f"[bold]{HOSTILE}[/]")
    shown.control(Control.move_to_column(0))
    text = file.getvalue()
    assert text.count("\x1b[1m") == 2 and text.count("\x1b[1G") == 1  # bold, and the move
    assert_safe(text.replace("\x1b[1m", "").replace("\x1b[0m", "").replace("\x1b[1G", ""))
    assert text.count(SHOWN) == 2
    # Text itself drops BEL, BS, VT, FF and CR; what it keeps is shown.
    assert "a\\x1b]0;pwnedb \\x1b]52;c;aGk= \\x1b[2Jc\\x9b31md\\x7f" in text


def test_json_shows_c1_and_del_escaped_with_the_same_values(
    capsys: pytest.CaptureFixture[str],
) -> None:
    value = {"message": HOSTILE, "text": UNICODE}
    output.print_json(value)
    printed = capsys.readouterr().out
    assert_safe(printed)
    assert UNICODE in printed
    assert json.loads(printed) == value


def test_a_string_result_is_exact_in_a_pipe_and_shown_on_a_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    output.print_result(HOSTILE)
    assert capsys.readouterr().out == HOSTILE + "\n"

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr("sys.stdout", terminal)
    output.print_result(HOSTILE)
    assert terminal.getvalue() == SHOWN + "\n"


def test_a_plain_line_shows_its_controls(capsys: pytest.CaptureFixture[str]) -> None:
    output.echo(f"removed schedule {HOSTILE}")
    output.echo(UNICODE, err=True)
    printed = capsys.readouterr()
    assert (printed.out, printed.err) == (f"removed schedule {SHOWN}\n", UNICODE + "\n")
