"""/openapi.json: built from the routes once, then given what the routes share.

The routes declare their own answers (response models, the errors only they give). Built
here, in one place, is what no single route can say: the errors every route may answer
(rota.server.errors.document_errors), which routes the guard lets anyone reach (the table of
rota.auth.access: no 401 or 403 there), the request bodies that routes read themselves, and
the JSON value that arguments and results are made of.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from rota.auth.access import Access, access_for
from rota.server.api.json_values import JSON_VALUE_SCHEMA, reference_json_values
from rota.server.api.schemas import openapi_components
from rota.server.errors import document_errors, error_schemas

_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
BEARER = "bearer"
BEARER_SCHEME: dict[str, Any] = {
    "type": "http",
    "scheme": "bearer",
    "description": "a token from `rota tokens create` (rota.server.guard); the dashboard "
    "may send it in its HttpOnly session cookie instead (POST /api/v1/session)",
}
"""How a request shows its token: the guard refuses one without (401) or whose role may not
make it (403), unless the route is open to anyone."""
_FASTAPI_422 = "#/components/schemas/HTTPValidationError"
"""FastAPI documents a 422 of its own ({detail: [...]}) that this server never sends: its
handler answers the error body (rota.server.errors)."""


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """Return the app's OpenAPI document, every operation with its errors documented."""
    document = get_openapi(
        title=app.title, version=app.version, summary=app.summary, routes=app.routes
    )
    components = document.setdefault("components", {})
    components["securitySchemes"] = {BEARER: BEARER_SCHEME}
    document["security"] = [{BEARER: []}]  # every operation but those that say otherwise
    schemas = components.setdefault("schemas", {})
    # Submit and patch read their bodies themselves (for clear errors); describe them.
    schemas.update(openapi_components())
    for name, schema in {**error_schemas(), "JsonValue": JSON_VALUE_SCHEMA}.items():
        schemas.setdefault(name, schema)
    reference_json_values(document)
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if method in _METHODS:
                _drop_fastapi_422(operation)
                if access_for("http", method.upper(), path) is Access.OPEN:
                    operation["security"] = []  # the guard lets anyone in: no 401 or 403
                document_errors(operation)
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    return document


def _drop_fastapi_422(operation: dict[str, Any]) -> None:
    invalid = operation.get("responses", {}).get("422", {})
    if invalid.get("content", {}).get("application/json", {}).get("schema") == {
        "$ref": _FASTAPI_422
    }:
        del operation["responses"]["422"]


def install_openapi(app: FastAPI) -> None:
    """Make the app serve openapi_document(app), built on the first request for it."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi_document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
