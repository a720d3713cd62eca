"""/openapi.json itself, without a live server: every route the app answers is in it, every
operation documents the errors every route may answer with the body the server sends, and no
schema is left open (an open object or a field without a type lets any answer conform, so a
fuzzer's conformance checks could not fail). test_openapi_contract.py then holds a running
server to the document."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from rota.auth.access import Access, access_for
from rota.server.errors import AUTH_ERRORS, COMMON_ERRORS, ERROR_BODY_REF, ErrorBody
from rota.server.openapi import openapi_document

Document = dict[str, Any]
TYPED = frozenset({"type", "$ref", "anyOf", "oneOf", "allOf", "enum", "const"})
"""Keys by one of which a schema says what a value is."""
NOT_IN_THE_API = ("/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc")
"""FastAPI's pages about the API."""


@pytest.fixture
async def document(client: httpx.AsyncClient) -> Document:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    body: Document = response.json()
    return body


def operations(document: Document) -> list[tuple[str, str, Document]]:
    return [
        (path, method, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]


def open_schemas(schema: Any, where: str) -> list[str]:
    """Return where a schema (and the schemas inside it) accepts values it does not
    describe: a schema without a type, an object without properties or with
    additionalProperties true."""
    if not isinstance(schema, dict):
        return [f"{where}: {schema!r} is not a schema"]
    found = []
    if not TYPED & schema.keys():
        found.append(f"{where}: no type")
    if schema.get("type") == "object" and schema.get("additionalProperties", True) is True:
        if "properties" not in schema or schema.get("additionalProperties") is True:
            found.append(f"{where}: an open object")
    for name, inner in schema.get("properties", {}).items():
        found += open_schemas(inner, f"{where}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            found += open_schemas(schema[key], f"{where}.{key}")
    for key in ("anyOf", "oneOf", "allOf"):
        for index, inner in enumerate(schema.get(key, [])):
            found += open_schemas(inner, f"{where}.{key}[{index}]")
    return found


def test_every_route_the_app_answers_is_documented(app: FastAPI, document: Document) -> None:
    documented = {(path, method.upper()) for path, method, _ in operations(document)}
    answered = {
        (route.path_format, method)
        for route in iter_route_contexts(app.routes)
        if route.methods and route.path_format
        for method in route.methods - {"HEAD"}
    }
    dashboard = {
        (path, method)
        for path, method in answered
        if path == "/" or path.startswith("/static/") or path.split("/")[1] in DASHBOARD
    }
    undocumented = answered - documented - dashboard
    assert undocumented == {(path, "GET") for path in NOT_IN_THE_API}
    assert {("/metrics", "GET"), ("/healthz", "GET"), ("/api/v1/events", "GET")} <= documented


DASHBOARD = frozenset({"jobs", "tasks", "schedules", "reminders", "workers", "submit"})
"""The first path segments of the dashboard's pages (rota.server.dashboard.PAGES)."""


def test_every_operation_documents_the_errors_every_route_may_answer(
    document: Document,
) -> None:
    for path, method, operation in operations(document):
        statuses = {int(status) for status in operation["responses"]}
        assert set(COMMON_ERRORS) <= statuses, (method, path)
        for status in {status for status in statuses if status >= 400}:
            if (path, status) in {("/api/v1/readyz", 503), ("/readyz", 503)}:
                continue  # the probe's own "unavailable" body
            content = operation["responses"][str(status)]["content"]
            assert content == {"application/json": {"schema": {"$ref": ERROR_BODY_REF}}}, (
                method,
                path,
                status,
            )


def test_the_guard_s_refusals_are_documented_where_it_can_answer_them(
    document: Document,
) -> None:
    """401 and 403 on every operation the guard judges, none on those it lets anyone reach
    (rota.auth.access), which say so with `security: []`; signing in refuses a bad token
    with a 401 of its own."""
    assert document["security"] == [{"bearer": []}]
    scheme = document["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    open_ones = set()
    for path, method, operation in operations(document):
        statuses = {int(status) for status in operation["responses"]}
        if access_for("http", method.upper(), path) is Access.OPEN:
            open_ones.add((method, path))
            assert operation["security"] == [], (method, path)
            assert 403 not in statuses, (method, path)
            assert 401 not in statuses or (method, path) == ("post", "/api/v1/session")
        else:
            assert "security" not in operation, (method, path)
            assert set(AUTH_ERRORS) <= statuses, (method, path)
    assert {("get", "/healthz"), ("get", "/api/v1/readyz"), ("delete", "/api/v1/session")} <= (
        open_ones
    )


def test_no_schema_is_open_or_untyped(document: Document) -> None:
    found = []
    for name, schema in document["components"]["schemas"].items():
        found += open_schemas(schema, name)
    for path, method, operation in operations(document):
        where = f"{method.upper()} {path}"
        for parameter in operation.get("parameters", []):
            found += open_schemas(parameter["schema"], f"{where} {parameter['name']}")
        for kind, content in operation.get("requestBody", {}).get("content", {}).items():
            found += open_schemas(content.get("schema"), f"{where} body {kind}")
        for status, response in operation["responses"].items():
            if "content" not in response and status != "204":
                found.append(f"{where} {status}: no content")
            for kind, content in response.get("content", {}).items():
                found += open_schemas(content.get("schema"), f"{where} {status} {kind}")
    assert found == []


def test_the_open_schema_check_can_fail() -> None:
    assert open_schemas({"type": "object", "additionalProperties": True}, "x") == [
        "x: an open object"
    ]
    assert open_schemas({"properties": {"a": {"title": "A"}}, "type": "object"}, "x") == [
        "x.a: no type"
    ]
    assert open_schemas({"type": "object"}, "x") == ["x: an open object"]


def test_job_values_are_json_values_not_open_objects(document: Document) -> None:
    schemas = document["components"]["schemas"]
    job = schemas["JobOut"]["properties"]
    assert job["kwargs"]["additionalProperties"] == {"$ref": "#/components/schemas/JsonValue"}
    assert job["args"]["items"] == {"$ref": "#/components/schemas/JsonValue"}
    assert job["result"]["$ref"] == "#/components/schemas/JsonValue"
    kinds = [option.get("type") for option in schemas["JsonValue"]["anyOf"]]
    assert kinds == ["null", "boolean", "number", "string", "array", "object"]


async def test_the_422_documented_is_the_422_sent(
    client: httpx.AsyncClient, document: Document
) -> None:
    listed = document["paths"]["/api/v1/jobs"]["get"]["responses"]["422"]
    assert listed["content"]["application/json"]["schema"] == {"$ref": ERROR_BODY_REF}
    assert "HTTPValidationError" not in document["components"]["schemas"]
    error = document["components"]["schemas"]["ErrorBody"]
    assert error["required"] == ["error"] and error["additionalProperties"] is False
    detail = document["components"]["schemas"]["ErrorDetail"]
    assert set(detail["required"]) == {"type", "message"}
    response = await client.get("/api/v1/jobs", params={"limit": "many"})
    assert response.status_code == 422
    body = ErrorBody.model_validate(response.json())  # closed: no key but error
    assert body.error.type == "InvalidInput" and "limit" in body.error.message


def test_the_document_is_built_once(app: FastAPI) -> None:
    assert app.openapi() is app.openapi()
    assert openapi_document(app) == app.openapi()
