"""Tokens and roles on a real server socket: every route of /openapi.json, the event stream
and the worker socket, without a token, with a wrong one, a revoked one, and one of a role
that may not; bindings of worker tokens; revocation closing what is open; the dashboard's
session cookie."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import httpx
import pytest

from rota.auth.access import Access, access_for
from rota.auth.tokens import Binding, Role, mint
from rota.errors import WorkerRefused
from rota.settings import settings_of
from rota.store import Store
from rota.tasks.builtin import builtin_registry
from rota.worker.runtime import Worker
from tests.server.conftest import LiveServer, StartServer

API = "/api/v1"


async def token(store: Store, role: Role, binding: str | None = None, name: str = "t") -> str:
    secret, record = mint(
        name=name,
        role=role,
        binding=None if binding is None else Binding.parse(binding),
        now=await store.now(),
    )
    await store.create_token(record)
    return secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def operations(schema: dict[str, Any]) -> list[tuple[str, str]]:
    """Every (method, concrete path) of the document, path parameters filled in."""
    found = []
    for path, item in schema["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "x1", path)
        for method in item:
            found.append((method.upper(), concrete))
    return found


@pytest.fixture
async def guarded(start_server: StartServer) -> LiveServer:
    return await start_server(anonymous=False)


async def call(live: LiveServer, method: str, path: str, headers: dict[str, str]) -> int:
    body = {} if method in ("POST", "PUT", "PATCH") else None
    response = await live.http.request(method, path, headers=headers, json=body)
    return response.status_code


async def test_every_route_refuses_a_request_without_a_valid_token(
    guarded: LiveServer, store: Store
) -> None:
    schema = (await guarded.http.get("/openapi.json")).json()
    revoked = await token(store, Role.ADMIN, name="gone")
    await store.revoke_token(revoked.split("_")[1])
    requests = [
        (method, path, headers)
        for method, path in operations(schema)
        if access_for("http", method, path) is not Access.OPEN and path != f"{API}/events"
        for headers in (
            {},
            bearer("rota_0123456789ab_" + "x" * 43),
            bearer("nonsense"),
            bearer(revoked),
        )
    ]
    # At once: an unknown token waits for the guard's next read of the tokens.
    answers = await asyncio.gather(
        *(guarded.http.request(m, p, headers=h, json={}) for m, p, h in requests)
    )
    for (method, path, headers), answer in zip(requests, answers, strict=True):
        assert answer.status_code == 401, (method, path, headers, answer.text)
        error = answer.json()["error"]
        assert error["type"] == "Unauthenticated" and error["message"]
        assert answer.headers["www-authenticate"].startswith("Bearer")
    checked = len(requests)
    assert checked >= 4 * 30
    for path in ("/metrics", f"{API}/events"):
        assert (await guarded.http.get(path)).status_code == 401


async def test_each_role_reaches_what_it_may_and_is_refused_the_rest_with_403(
    guarded: LiveServer, store: Store
) -> None:
    schema = (await guarded.http.get("/openapi.json")).json()
    secrets = {role: await token(store, role, name=role.value) for role in Role}
    may = {
        Role.READ: {Access.READ},
        Role.CLIENT: {Access.READ, Access.WRITE},
        Role.WORKER: {Access.WORKER},
        Role.ADMIN: {Access.READ, Access.WRITE, Access.ADMIN, Access.WORKER},
    }
    refused: dict[Role, int] = dict.fromkeys(Role, 0)
    for method, path in operations(schema):
        need = access_for("http", method, path)
        if need is Access.OPEN or path == f"{API}/events":
            continue
        for role, secret in secrets.items():
            status = await call(guarded, method, path, bearer(secret))
            if need in may[role]:
                assert status not in (401, 403), (role, method, path, status)
            else:
                assert status == 403, (role, method, path, status)
                refused[role] += 1
    # Reads only read; clients cannot drain or manage tokens; workers only connect.
    assert refused[Role.READ] > 15 and refused[Role.WORKER] > 30
    assert refused[Role.CLIENT] >= 4 and refused[Role.ADMIN] == 0


async def test_the_attacks_of_an_anonymous_caller_are_refused(
    guarded: LiveServer, store: Store
) -> None:
    admin = await token(store, Role.ADMIN)
    job = (
        await guarded.http.post(
            f"{API}/jobs", json={"task": "rota.echo", "args": [1]}, headers=bearer(admin)
        )
    ).json()
    assert (await guarded.http.post(f"{API}/jobs", json={"task": "rota.echo"})).status_code == 401
    assert (await guarded.http.post(f"{API}/workers/w/drain")).status_code == 401
    assert (await guarded.http.delete(f"{API}/jobs/{job['id']}")).status_code == 401
    assert (
        await guarded.http.patch(f"{API}/jobs/{job['id']}", json={"args": ["evil"]})
    ).status_code == 401
    assert (
        await guarded.http.post(
            f"{API}/schedules",
            json={"name": "x", "task": "rota.shell", "interval": 60, "args": ["id"]},
        )
    ).status_code == 401
    kept = (await guarded.http.get(f"{API}/jobs/{job['id']}", headers=bearer(admin))).json()
    assert kept["args"] == [1] and kept["state"] == "pending"


@pytest.mark.parametrize("ending", ["%0A", "%0a"])
async def test_a_path_ending_in_a_newline_is_judged_as_the_route_it_reaches(
    guarded: LiveServer, store: Store, ending: str
) -> None:
    # The router's patterns end in `$`, which also matches before a final newline: the
    # guard must judge "/api/v1/tokens\n" as the tokens route it reaches, not as a write.
    client = await token(store, Role.CLIENT)
    read = await token(store, Role.READ)
    made = await guarded.http.post(
        f"{API}/tokens{ending}", json={"name": "x", "role": "admin"}, headers=bearer(client)
    )
    assert made.status_code == 403, made.text
    listed = await guarded.http.get(f"{API}/tokens{ending}", headers=bearer(read))
    assert listed.status_code == 403, listed.text
    drained = await guarded.http.post(f"{API}/workers/w/drain{ending}", headers=bearer(client))
    assert drained.status_code == 403, drained.text
    assert (await guarded.http.get(f"/metrics{ending}")).status_code == 401


async def test_a_refusal_is_logged_on_one_line_whatever_the_path(
    guarded: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    # A path may hold an encoded newline: logged raw, it would forge a line of its own.
    caplog.set_level(logging.INFO)
    forged = "refused GET /api/v1/jobs from 10.9.9.9: forged"
    path = f"{API}/x%0A{forged.replace(' ', '%20')}"
    for sent in (path, path + "?x=1"):
        assert (await guarded.http.get(sent)).status_code == 401
    assert (await guarded.http.get(path, headers={"Host": "evil.example"})).status_code == 400
    lines = [record.getMessage() for record in caplog.records]
    assert any("10.9.9.9" in line for line in lines)
    assert not any("\n" in line for line in lines), lines


async def test_a_worker_without_a_worker_token_cannot_connect(
    guarded: LiveServer, store: Store
) -> None:
    for secret, code in [
        (None, 4401),
        ("rota_0123456789ab_" + "y" * 43, 4401),
        (await token(store, Role.READ), 4403),
        (await token(store, Role.CLIENT), 4403),
    ]:
        fake = guarded.fake("intruder", token=secret)
        await fake.open()
        assert await fake.closed_with() == code
    workers = (
        await guarded.http.get(f"{API}/workers", headers=bearer(await token(store, Role.READ)))
    ).json()
    assert workers["workers"] == []
    worker = await guarded.worker("honest", token=await token(store, Role.WORKER))
    assert worker.welcome is not None


async def test_a_bound_worker_token_admits_only_its_name_or_tag(
    guarded: LiveServer, store: Store
) -> None:
    by_name = await token(store, Role.WORKER, "name:gpu-*")
    by_tag = await token(store, Role.WORKER, "tag:device:*")
    assert (await guarded.worker("gpu-1", token=by_name)).welcome is not None
    other = guarded.fake("mail-1", token=by_name)
    await other.open()
    await other.send(other.hello)
    error = await other.receive("error")
    assert "name:gpu-*" in error["message"]
    assert await other.closed_with() == 4403
    assert (
        await guarded.worker("laptop", tags=["device", "device:laptop"], token=by_tag)
    ).welcome is not None
    plain = guarded.fake("plain", tags=["gpu"], token=by_tag)
    await plain.open()
    await plain.send(plain.hello)
    await plain.receive("error")
    assert await plain.closed_with() == 4403


async def test_a_bound_worker_token_runs_only_the_jobs_meant_for_its_binding(
    guarded: LiveServer, store: Store
) -> None:
    # The attack: a device token, with a worker of its own on the default queue, taking
    # everyone's jobs (and their arguments). It gets only jobs targeted at its device tag.
    client = bearer(await token(store, Role.CLIENT))
    submitted = {}
    for label, target in [
        ("anyone", None),
        ("gpu", "gpu"),
        ("its name", "laptop"),
        ("another device", "device:phone"),
        ("its device", "device:laptop"),
    ]:
        body = {"task": "rota.echo", "args": [label], "target": target}
        response = await guarded.http.post(f"{API}/jobs", json=body, headers=client)
        assert response.status_code == 201, response.text
        submitted[label] = response.json()["id"]
    device = await guarded.worker(
        "laptop",
        tags=["device:laptop", "gpu"],
        capacity=10,
        token=await token(store, Role.WORKER, "tag:device:*"),
    )
    [job] = await device.receive_jobs(1)
    assert job["job_id"] == submitted["its device"]
    assert await device.nothing_within(0.3)
    # A worker of an unbound worker token takes what is left of its own.
    plain = await guarded.worker(
        "laptop-2", tags=["gpu"], capacity=10, token=await token(store, Role.WORKER)
    )
    got = {job["job_id"] for job in await plain.receive_jobs(2)}
    assert got == {submitted["anyone"], submitted["gpu"]}


async def test_a_device_of_a_bound_device_token_rings_any_device_reminders(
    guarded: LiveServer, store: Store
) -> None:
    # `rota device` declares the tags `device` and `device:<name>`; a reminder for any
    # device targets `device`. The README's device token (tag:device:*) must still ring it.
    client = bearer(await token(store, Role.CLIENT))
    body = {"text": "Stretch", "at": "in 1m", "any_device": True}
    response = await guarded.http.post(f"{API}/reminders", json=body, headers=client)
    assert response.status_code == 201, response.text
    [reminder] = response.json()["jobs"]
    device = guarded.fake(
        "laptop",
        queues=["reminders"],
        tags=["device", "device:laptop"],
        tasks=["rota.remind"],
        token=await token(store, Role.WORKER, "tag:device:*"),
    )
    device.hello["horizon_s"] = 3600.0
    await device.connect()
    [job] = await device.receive_jobs(1)
    assert job["job_id"] == reminder["id"]


async def test_a_refusal_longer_than_a_close_frame_allows_still_closes_with_its_code(
    guarded: LiveServer, store: Store
) -> None:
    # A close frame's reason is at most 123 bytes: a message naming a token in non-ASCII
    # letters must be cut to fit, or the close fails and the worker reconnects for ever.
    client = await token(store, Role.CLIENT, name="é" * 100)
    fake = guarded.fake("intruder", token=client)
    await fake.open()
    assert await fake.closed_with() == 4403


async def test_a_worker_refused_by_the_guard_stops_with_the_whole_reason(
    guarded: LiveServer, store: Store
) -> None:
    # The reason reaches the worker in an `error` frame: a close frame's 123 bytes would
    # have cut it before the role it needs.
    secret = await token(store, Role.CLIENT, name="the laptop of the night shift, room 4")
    settings = settings_of({"server": [guarded.url], "name": "w1", "token": secret})
    worker = Worker(settings, builtin_registry(), report=lambda line: None)
    with pytest.raises(WorkerRefused) as refusal:
        async with asyncio.timeout(10):
            await worker.run()
    assert refusal.value.message.endswith("that needs a token of the role worker or admin")


async def test_revoking_a_token_closes_the_socket_and_the_event_stream_it_opened(
    guarded: LiveServer, store: Store
) -> None:
    admin = await token(store, Role.ADMIN)
    worker_secret = await token(store, Role.WORKER, name="to-revoke")
    reader = await token(store, Role.READ, name="reader")
    worker = await guarded.worker("w", token=worker_secret)
    async with guarded.http.stream("GET", f"{API}/events", headers=bearer(reader)) as stream:
        assert stream.status_code == 200
        lines = stream.aiter_lines()
        assert (await anext(lines)).startswith("retry:")
        listed = (await guarded.http.get(f"{API}/tokens", headers=bearer(admin))).json()
        ids = {t["name"]: t["id"] for t in listed["tokens"]}
        for name in ("to-revoke", "reader"):
            answer = await guarded.http.delete(f"{API}/tokens/{ids[name]}", headers=bearer(admin))
            assert answer.status_code == 200 and answer.json()["revoked_at"]
        assert await worker.closed_with() == 4401

        async def drain() -> None:
            async for _ in lines:
                pass

        await asyncio.wait_for(drain(), 10)  # the stream ends
    assert (await guarded.http.get(f"{API}/jobs", headers=bearer(reader))).status_code == 401


async def test_tokens_are_made_listed_and_revoked_by_an_admin_only(
    guarded: LiveServer, store: Store
) -> None:
    admin = await token(store, Role.ADMIN)
    made = await guarded.http.post(
        f"{API}/tokens", json={"name": "ci", "role": "client"}, headers=bearer(admin)
    )
    assert made.status_code == 201
    secret = made.json()["secret"]
    assert secret.startswith("rota_")
    listed = (await guarded.http.get(f"{API}/tokens", headers=bearer(admin))).text
    # The key (after `rota_<id>_`) is base64url, so it may hold `_` itself.
    assert secret not in listed and secret.split("_", 2)[2] not in listed
    assert (await guarded.http.get(f"{API}/jobs", headers=bearer(secret))).status_code == 200
    assert (await guarded.http.get(f"{API}/tokens", headers=bearer(secret))).status_code == 403
    bad = await guarded.http.post(
        f"{API}/tokens",
        json={"name": "x", "role": "client", "binding": "tag:device:*"},
        headers=bearer(admin),
    )
    assert bad.status_code == 422 and "worker" in bad.json()["error"]["message"]
    missing = await guarded.http.delete(f"{API}/tokens/ffffffffffff", headers=bearer(admin))
    assert missing.status_code == 404


async def test_the_dashboard_signs_in_with_an_http_only_cookie(
    guarded: LiveServer, store: Store
) -> None:
    reader = await token(store, Role.READ, name="dash")
    assert (await guarded.http.get("/")).status_code == 200  # the page itself is open
    who = (await guarded.http.get(f"{API}/session")).json()
    assert who["signed_in"] is False and who["anonymous"] is False
    wrong = await guarded.http.post(f"{API}/session", json={"token": "rota_nope"})
    assert wrong.status_code == 401
    async with httpx.AsyncClient(base_url=guarded.url) as browser:
        signed = await browser.post(f"{API}/session", json={"token": reader})
        assert signed.status_code == 200 and signed.json()["role"] == "read"
        cookie = signed.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
        assert (await browser.get(f"{API}/jobs")).status_code == 200
        assert (await browser.post(f"{API}/jobs", json={"task": "rota.echo"})).status_code == 403
        assert (await browser.get(f"{API}/session")).json()["name"] == "dash"
        out = await browser.delete(f"{API}/session")
        assert out.status_code == 204
        browser.cookies.clear()
        assert (await browser.get(f"{API}/jobs")).status_code == 401


async def test_anonymous_mode_lets_requests_without_a_token_in_but_judges_a_given_one(
    start_server: StartServer, store: Store
) -> None:
    live = await start_server(anonymous=True)
    assert (await live.http.get(f"{API}/jobs")).status_code == 200
    assert (await live.http.get(f"{API}/session")).json()["anonymous"] is True
    assert (await live.http.get(f"{API}/jobs", headers=bearer("rota_bad"))).status_code == 401
    reader = await token(store, Role.READ)
    assert (
        await live.http.post(f"{API}/jobs", json={"task": "rota.echo"}, headers=bearer(reader))
    ).status_code == 403
