"""JSON values as /openapi.json states them: a job's arguments and result, a worker's figures.

They are whatever the client or the worker sent, within rota.values' rules, so their schema
is the recursive JSON value itself, named `JsonValue` in the document's components, rather
than an open object or a field without a type. Validation stays `Any` (the values were
checked once, by rota.values, on their way in): only the schema changes.

pydantic cannot emit a reference to a component it did not build, so a field's schema holds
a mark that `reference_json_values` turns into that reference once the document is built.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from pydantic import WithJsonSchema

JSON_VALUE_REF: Final = "#/components/schemas/JsonValue"
JSON_VALUE_SCHEMA: Final[dict[str, Any]] = {
    "description": "a JSON value: null, a boolean, a number, a string, a list of JSON values "
    "or an object of them (rota/values.py: no NaN or infinities, integers within "
    "±(2^53 - 1), at most 64 levels)",
    "anyOf": [
        {"type": "null"},
        {"type": "boolean"},
        {"type": "number"},
        {"type": "string"},
        {"type": "array", "items": {"$ref": JSON_VALUE_REF}},
        {"type": "object", "additionalProperties": {"$ref": JSON_VALUE_REF}},
    ],
}
_MARK: Final = "x-rota-json-value"

JsonValue = Annotated[Any, WithJsonSchema({_MARK: True})]
"""Any JSON value."""
JsonList = Annotated[list[Any], WithJsonSchema({"type": "array", "items": {_MARK: True}})]
"""A list of JSON values (a job's args)."""
JsonObject = Annotated[
    dict[str, Any], WithJsonSchema({"type": "object", "additionalProperties": {_MARK: True}})
]
"""An object whose values are JSON values (a job's kwargs, a worker's figures)."""


def reference_json_values(node: Any) -> None:
    """Replace, in place, every mark of a JSON value in a schema (or a whole OpenAPI
    document) by a reference to the `JsonValue` component (JSON_VALUE_SCHEMA)."""
    if isinstance(node, dict):
        if node.pop(_MARK, None) is not None:
            node["$ref"] = JSON_VALUE_REF
        for value in node.values():
            reference_json_values(value)
    elif isinstance(node, list):
        for value in node:
            reference_json_values(value)
