"""Tokens, bindings and the access table, without a server."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rota.auth.access import Access, access_for, allows
from rota.auth.tokens import Binding, Role, digest_of, id_of, mint
from rota.errors import InvalidInput
from rota.settings import is_loopback, settings_of

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def test_a_secret_carries_its_id_and_is_stored_only_as_its_digest() -> None:
    secret, record = mint(name="ci", role=Role.CLIENT, binding=None, now=NOW)
    assert id_of(secret) == record.id and len(record.id) == 12
    assert record.digest == digest_of(secret) and len(record.digest) == 64
    assert secret not in repr(record)
    other, _ = mint(name="ci", role=Role.CLIENT, binding=None, now=NOW)
    assert other != secret
    assert id_of("Bearer nonsense") is None and id_of(secret + "x") is None


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, "bell\a"])
def test_a_token_name_must_be_short_printable_text(name: str) -> None:
    with pytest.raises(InvalidInput):
        mint(name=name, role=Role.READ, binding=None, now=NOW)


def test_only_worker_tokens_are_bound() -> None:
    with pytest.raises(InvalidInput, match="worker"):
        mint(name="x", role=Role.CLIENT, binding=Binding.parse("name:a"), now=NOW)


@pytest.mark.parametrize("text", ["gpu-*", "host:x", "name:", "tag", ":x", "name:" + "a" * 300])
def test_a_binding_reads_name_or_tag_and_a_pattern(text: str) -> None:
    with pytest.raises(InvalidInput):
        Binding.parse(text)


def test_bindings_admit_by_name_or_by_any_tag() -> None:
    by_name = Binding.parse("name:gpu-*")
    assert by_name.admits("gpu-1", []) and not by_name.admits("mail", ["gpu-1"])
    by_tag = Binding.parse("tag:device:*")
    assert by_tag.admits("laptop", ["device", "device:laptop"])
    assert not by_tag.admits("device:x", ["device"])


def test_a_binding_confines_claims_to_its_name_or_its_matching_tags() -> None:
    assert Binding.parse("name:gpu-*").targets("gpu-1", ["gpu", "device:x"]) == ("gpu-1",)
    # `device`, which its matching tag refines, is a reminder for any device's target.
    assert Binding.parse("tag:device:*").targets("laptop", ["device", "device:laptop", "gpu"]) == (
        "device",
        "device:laptop",
    )
    assert Binding.parse("tag:device:*").targets("laptop", ["device:laptop", "dev"]) == (
        "device:laptop",
    )
    assert Binding.parse("tag:gpu").targets("x", ["gpu", "gpu:a100", "g"]) == ("gpu",)


@pytest.mark.parametrize(
    ("kind", "method", "path", "need"),
    [
        ("websocket", "GET", "/api/v1/workers/connect", Access.WORKER),
        ("http", "GET", "/api/v1/workers/connect", Access.WORKER),
        ("http", "GET", "/api/v1/jobs", Access.READ),
        ("http", "HEAD", "/api/v1/jobs/x", Access.READ),
        ("http", "GET", "/api/v1/events", Access.READ),
        ("http", "GET", "/metrics", Access.READ),
        ("http", "POST", "/api/v1/jobs", Access.WRITE),
        ("http", "DELETE", "/api/v1/schedules/a", Access.WRITE),
        ("http", "POST", "/api/v1/workers/a/drain", Access.ADMIN),
        ("http", "GET", "/api/v1/tokens", Access.ADMIN),
        ("http", "DELETE", "/api/v1/tokens/abc", Access.ADMIN),
        ("http", "POST", "/api/v1/session", Access.OPEN),
        ("http", "GET", "/api/v1/healthz", Access.OPEN),
        ("http", "GET", "/healthz", Access.OPEN),
        ("http", "GET", "/", Access.OPEN),
        ("http", "GET", "/static/app.js", Access.OPEN),
        ("http", "GET", "/openapi.json", Access.OPEN),
        ("websocket", "GET", "/elsewhere", Access.WORKER),
        ("http", "GET", "/api/v1/unknown/route", Access.READ),
        ("http", "PUT", "/api/v1/unknown", Access.WRITE),
    ],
)
def test_what_each_request_needs(kind: str, method: str, path: str, need: Access) -> None:
    assert access_for(kind, method, path) is need


def test_roles_grant_what_the_issue_names() -> None:
    assert all(allows(Role.ADMIN, access) for access in Access)
    assert allows(Role.CLIENT, Access.WRITE) and not allows(Role.CLIENT, Access.ADMIN)
    assert not allows(Role.CLIENT, Access.WORKER)
    assert allows(Role.READ, Access.READ) and not allows(Role.READ, Access.WRITE)
    assert allows(Role.WORKER, Access.WORKER) and not allows(Role.WORKER, Access.READ)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"])
def test_anonymous_is_allowed_on_loopback(host: str) -> None:
    assert is_loopback(host)
    assert settings_of({"host": host, "anonymous": True}).auth.anonymous


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "example.com"])
def test_anonymous_is_refused_anywhere_else(host: str) -> None:
    with pytest.raises(InvalidInput, match=r"auth\.anonymous is only allowed .* loopback"):
        settings_of({"host": host, "anonymous": True})
