"""The API contract: a real server answers as its /openapi.json says, checked by schemathesis.

Schemathesis reads the document and makes requests for every operation: boundary and invalid
values first (coverage), then random ones (fuzzing), then chains of calls that follow the
links it infers between operations (stateful: create, read, change, delete). It checks every
answer with every check it has: no 5xx (`not_a_server_error`), a documented status
(`status_code_conformance`), the documented content type (`content_type_conformance`) and
headers (`response_headers_conformance`), a body that fits the documented schema, which is
closed (`response_schema_conformance`), an invalid request refused (`negative_data_rejection`,
`missing_required_header`), an undocumented method answered 405 with a truthful Allow header
(`unsupported_method`, `allow_header_conformance`), a created resource there
(`ensure_resource_availability`), and authentication not ignored (`ignored_auth`,
`object_level_authorization`). Any failure fails the test, with schemathesis' report (each
failure with a curl line to reproduce it). tests/server/test_openapi_document.py checks the
document itself (every route in it, no open schema, the shared errors on every operation).

Left out, each for its reason:
- the check `positive_data_acceptance` (a schema-valid request must be accepted): the
  document states every rule a JSON schema can (patterns, lengths, ranges, closed objects),
  but some rules are not of that kind, and requests breaking them are refused with 422 by
  design: a task must be registered by a worker (known only at run time); a moment lies
  within 1970..9000 (JSON Schema has no range for date-time text); a schedule has exactly
  one of cron, interval and ics, a reminder one of device, devices and any_device, a job
  patch at least one change (rules across fields, where a null counts as absent); a PUT's
  body names the schedule its path names; a cursor is one the server made; an .ics file
  parses; a time zone exists.
- the check `use_after_free` (a resource read after its DELETE must be gone):
  DELETE /api/v1/jobs/{job_id} cancels the job, as documented, and keeps it, with its
  history, to be read and retried; a job is never deleted through the API. Schemathesis
  applies the checks of its stateful phase to every operation alike, so the check cannot be
  kept for schedules alone; tests/server/test_schedules_api.py checks that a deleted
  schedule is gone.
- the operation DELETE /api/v1/tokens/{token_id} (revoke a token): schemathesis reuses the
  ids that GET /api/v1/tokens answers, so it would revoke the token it runs with, and every
  later request would be a 401. tests/server/test_auth.py checks revocation; the test
  checks that its token is still live at the end.

The server runs with auth on: schemathesis sends an admin token (the document's bearer
scheme) and checks that a request without one, or with a wrong one, is refused
(`ignored_auth`); the worker connects with a worker token.

The event stream (GET /api/v1/events) never ends: schemathesis reads its first event
(STREAM_EVENTS) and checks it against the event's documented schema;
tests/server/test_event_models.py holds every other kind of event to its model.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from rota.auth.tokens import Role, mint
from rota.clock import SYSTEM_CLOCK
from rota.server import guard
from tests.client.live import LiveServer, running_server, running_worker

pytestmark = [pytest.mark.contract, pytest.mark.slow, pytest.mark.timeout(600)]

MAX_EXAMPLES = 40
"""Random requests per operation in the fuzzing phase (the coverage phase adds its own
boundary and invalid cases), and scenarios in the stateful one: about 4,700 requests and a
minute in all."""
SEED = 20261130
"""Fixed, so a failure is the same on every run; change it to explore further."""
CHECKS = ("all",)
EXCLUDED_CHECKS = ("positive_data_acceptance", "use_after_free")
STREAM_EVENTS = 1
"""Events read from the never-ending stream before it is cut: the first comes at once."""
KNOWN = 0.8
"""The share of requests that name a real job, schedule, worker or reminder."""
NOT_FUZZED = ("revoke_token_api_v1_tokens__token_id__delete",)
"""Operations left out (see the module's docstring)."""
DEVICE = "contract-device"
"""A real worker, tagged `device`, so the worker and device routes answer a real one."""


def test_the_server_answers_as_its_openapi_document_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An unknown token waits for the guard's next read of the tokens, a brake on guessing;
    # schemathesis sends hundreds of made-up ones, so the brake is off here.
    monkeypatch.setattr(guard, "MISS_RELOAD_S", 0.0)
    with running_server(tmp_path / "rota.db", anonymous=False) as live:
        admin = _token(live, Role.ADMIN)
        worker_args = ["--token", _token(live, Role.WORKER), "--name", DEVICE, "--tags", "device"]
        with running_worker(
            live,
            tmp_path / "worker.log",
            [*worker_args, "--import", "tests.client.sample_app"],
            lambda worker: worker.name == DEVICE and worker.state == "online",
        ):
            run, document = _run_schemathesis(live, admin, tmp_path)
        tokens = live.run(live.store.list_tokens())
    report = run.stdout + run.stderr
    assert run.returncode == 0, report
    operations = sum(len(methods) for methods in document["paths"].values())
    tested = re.search(r"Tested: (\d+)", report)
    assert tested is not None, report
    assert int(tested.group(1)) == operations - len(NOT_FUZZED), report
    # Still signed in at the end: the run was not answered 401 from some point on.
    admin_id = admin.split("_")[1]  # rota_<id>_<secret>
    assert [token.revoked for token in tokens if token.id == admin_id] == [False]


def _token(live: LiveServer, role: Role) -> str:
    """Return the secret of a new token of that role, stored in the live server's store."""
    now = SYSTEM_CLOCK.now_utc()
    secret, record = mint(name=f"contract {role.value}", role=role, binding=None, now=now)
    live.run(live.store.create_token(record))
    return secret


def _run_schemathesis(
    live: LiveServer, admin: str, tmp_path: Path
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """Run schemathesis against the live server with an admin token; return its run and
    the document it read."""
    document: dict[str, Any] = httpx.get(f"{live.url}/openapi.json").json()
    config = tmp_path / "schemathesis.toml"
    config.write_text(_parameters(live.url, admin))
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "--no-color",
        "run",
        f"{live.url}/openapi.json",
        "--checks",
        ",".join(CHECKS),
        "--exclude-checks",
        ",".join(EXCLUDED_CHECKS),
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        # One worker: hypothesis describes its filters by parsing source, which
        # CPython 3.11 before 3.11.8 can get wrong from two threads at once (SystemError).
        "--workers",
        "1",
        "--request-timeout",
        "10",
        "--suppress-health-check",
        "all",
        *(option for operation in NOT_FUZZED for option in ("--exclude-operation-id", operation)),
    ]
    run = subprocess.run(
        command, capture_output=True, text=True, timeout=600, cwd=tmp_path, check=False
    )
    return run, document


def _parameters(url: str, admin: str) -> str:
    """Return a schemathesis config naming a real job, schedule, worker (a device) and
    reminder, so the routes that take an id or a name reach their own logic: each is given
    in KNOWN of the requests, and in the others schemathesis makes one up, so that "no such
    thing" (404) is answered and checked too."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin}"}) as http:
        job = http.post("/api/v1/jobs", json={"task": "rota.echo", "args": [1]})
        job.raise_for_status()
        schedule = http.post(
            "/api/v1/schedules",
            json={"name": "contract", "task": "rota.echo", "interval": 3600.0},
        )
        schedule.raise_for_status()
        reminder = http.post(
            "/api/v1/reminders", json={"text": "contract", "at": "in 1h", "device": DEVICE}
        )
        reminder.raise_for_status()
    known = {
        "job": job.json()["id"],
        "schedule": schedule.json()["name"],
        "worker": DEVICE,
        "reminder": reminder.json()["jobs"][0]["id"],
    }
    lines = [
        f"max-stream-events = {STREAM_EVENTS}",
        # The scheme's name in the document (rota.server.openapi.BEARER).
        "[auth.openapi.bearer]",
        f"bearer = {json.dumps(admin)}",
    ]
    for name, value in known.items():
        lines += [f"[dictionaries.{name}]", f"values = [{json.dumps(value)}]"]
    lines += [
        "[parameters]",
        *(
            f'"path.{parameter}" = {{ dictionary = "{name}", probability = {KNOWN} }}'
            for parameter, name in (("job_id", "job"), ("ref", "schedule"), ("name", "worker"))
        ),
        # A long poll on a pending job lasts its whole wait (up to 30 s): don't wait.
        '"query.wait" = 0',
        # The reminder routes take a job id too: that of a reminder.
        "[[operations]]",
        'include-path-regex = "^/api/v1/reminders/"',
        f'parameters = {{ "path.job_id" = {{ dictionary = "reminder", probability = {KNOWN} }} }}',
    ]
    return "\n".join(lines) + "\n"
