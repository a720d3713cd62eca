"""`rota import-ics` against a real server, and fetching a calendar over HTTP."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from rota.calendar.fetch import fetch_url
from rota.cli.main import app
from rota.errors import InvalidInput
from tests.client.live import LiveServer, running_server

FIXTURES = Path(__file__).parents[1] / "calendar" / "fixtures"


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A server that takes rota.remind without a device having announced it."""
    with running_server(tmp_path / "rota.db", strict_tasks=False) as live:
        yield live


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """An HTTP server on loopback serving the fixtures; /slow never answers in time."""
    stop = threading.Event()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(FIXTURES), **kwargs)  # type: ignore[arg-type]

        def do_GET(self) -> None:
            if self.path == "/slow.ics":
                stop.wait(5)
                return
            super().do_GET()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        thread.join()


def rota(live: LiveServer, *args: str) -> Result:
    return CliRunner().invoke(app, ["--server", live.url, *args])


def test_import_dry_run_then_import_then_again(live_server: LiveServer) -> None:
    google = str(FIXTURES / "google.ics")
    options = ["--device", "laptop", "--before", "10m", "--tz", "Europe/Berlin"]
    dry = rota(live_server, "import-ics", google, *options, "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert "calendar google: 4 would be added, 0 would be updated" in dry.stdout
    assert "Dentist" in dry.stdout and "2031-04-02T12:50:00+00:00" in dry.stdout
    first = rota(live_server, "import-ics", google, *options, "--calendar", "work", "-o", "json")
    assert first.exit_code == 0, first.stderr
    report = json.loads(first.stdout)
    assert (report["added"], report["unchanged"], report["dry_run"]) == (4, 0, False)
    again = rota(live_server, "import-ics", google, *options, "--calendar", "work")
    assert again.exit_code == 0, again.stderr
    assert "calendar work: 0 added, 0 updated, 0 removed, 4 unchanged" in again.stdout
    jobs = json.loads(rota(live_server, "jobs", "ls", "--task", "rota.remind", "-o", "json").stdout)
    assert sorted(job["target"] for job in jobs["jobs"]) == ["device:laptop", "device:laptop"]
    listed = rota(live_server, "schedules", "ls")
    assert listed.exit_code == 0, listed.stderr
    assert listed.stdout.count("calendar") == 2 and "ics:work:" in listed.stdout


def test_occurrences_print_one_json_object_a_line_without_a_server(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "--server",
            "http://127.0.0.1:9",
            "import-ics",
            str(FIXTURES / "outlook.ics"),
            "--occurrences",
            "--from",
            "2031-03-01",
            "--until",
            "2031-03-20",
            "--tz",
            "UTC",
            "-o",
            "json",
        ],
    )
    assert result.exit_code == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(o["start"], o["summary"]) for o in lines] == [
        ("2031-03-06T18:00:00+00:00", "Team sync (moved)"),
        ("2031-03-13T14:00:00+00:00", "Team sync"),
    ]
    assert set(lines[0]) == {"uid", "recurrence_id", "start", "summary"}


def test_a_window_that_ends_before_it_starts_is_an_error_not_an_empty_list() -> None:
    result = CliRunner().invoke(
        app,
        [
            *("import-ics", str(FIXTURES / "outlook.ics"), "--occurrences"),
            *("--from", "2031-03-20", "--until", "2031-03-01", "-o", "json"),
        ],
    )
    assert result.exit_code == 1
    assert result.stderr == "rota: error: --until 2031-03-01 comes before --from 2031-03-20\n"


def test_malformed_file_is_one_line_naming_the_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.ics"
    text = (FIXTURES / "apple.ics").read_text().replace("COUNT=3", "COUNT=three")
    broken.write_text(text)
    result = CliRunner().invoke(app, ["import-ics", str(broken), "--dry-run"])
    assert result.exit_code == 1
    assert result.stderr.startswith("rota: error: line 31: RRULE")
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.output


def test_import_from_a_url(live_server: LiveServer, served: str) -> None:
    result = rota(live_server, "import-ics", f"{served}/apple.ics", "--tz", "America/New_York")
    assert result.exit_code == 0, result.stderr
    assert "calendar apple: 3 added" in result.stdout


def test_fetch_refuses_a_large_or_slow_calendar(served: str) -> None:
    with pytest.raises(InvalidInput, match="larger than 100 bytes"):
        fetch_url(f"{served}/google.ics", max_bytes=100)
    with pytest.raises(InvalidInput, match=r"cannot fetch .*Timeout"):
        fetch_url(f"{served}/slow.ics", timeout_s=0.3)
    with pytest.raises(InvalidInput, match="answered 404"):
        fetch_url(f"{served}/missing.ics")
