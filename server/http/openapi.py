"""The OpenAPI 3.1 document, generated from the route tables and their pydantic models.

Every schema in it comes from a type a route declares (``RouteSpec``): request bodies
and query strings from the models the wrapper validates with, success bodies from the
types the handlers serialise through, so a generated client or a fuzzer sees exactly
what the server accepts and answers. Errors share one schema (``server.errors``).
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import JsonSchemaMode

from server.http.api import RouteSpec

_PARAM = re.compile(r"{([^}]+)}")
_REF = "#/components/schemas/{model}"

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "additionalProperties": False,
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {},
            },
        }
    },
}
_ERROR_REF = {"$ref": "#/components/schemas/Error"}
_CLIENT_ERROR = "Bad input (naming the field at fault), unknown id, missing token, conflict"


class _Schemas:
    """Collects every type the routes name, then generates them in one pass so that
    shared models appear once under ``components/schemas``."""

    def __init__(self) -> None:
        self._inputs: dict[tuple[Hashable, JsonSchemaMode], TypeAdapter[Any]] = {}
        self._keyed: dict[tuple[Hashable, JsonSchemaMode], Any] = {}

    def want(self, tp: Any, mode: JsonSchemaMode) -> None:
        key = (_key(tp), mode)
        if key not in self._inputs:
            self._inputs[key] = TypeAdapter(tp)

    def generate(self) -> dict[str, Any]:
        inputs = [(key, mode, adapter) for (key, mode), adapter in self._inputs.items()]
        keyed, definitions = TypeAdapter.json_schemas(inputs, by_alias=True, ref_template=_REF)
        self._keyed = {(key, mode): schema for (key, mode), schema in keyed.items()}
        return dict(definitions.get("$defs", {}))

    def of(self, tp: Any, mode: JsonSchemaMode) -> dict[str, Any]:
        schema: dict[str, Any] = self._keyed[(_key(tp), mode)]
        return schema


def _key(tp: Any) -> Hashable:
    try:
        hash(tp)
    except TypeError:
        return repr(tp)
    return tp  # type: ignore[no-any-return]


def build_openapi(specs: list[RouteSpec], *, version: str, token_required: bool) -> dict[str, Any]:
    """Paths, parameters, request bodies and responses of every route."""
    schemas = _Schemas()
    for spec in specs:
        for model in (spec.body, spec.query, spec.body_doc):
            if model is not None:
                schemas.want(model, "validation")
        for tp in spec.path_params.values():
            schemas.want(tp, "validation")
        for tp in [spec.response, *(tp for _, tp in spec.also.values())]:
            if tp is not None:
                schemas.want(tp, "serialization")
    components = schemas.generate()
    components["Error"] = ERROR_SCHEMA
    paths: dict[str, dict[str, Any]] = {}
    for spec in specs:
        operation: dict[str, Any] = {
            "summary": spec.summary,
            "tags": [spec.tag],
            "operationId": f"{spec.method.lower()}_{spec.handler.__name__}_{len(paths)}",
            "parameters": _path_parameters(spec, schemas)
            + _query_parameters(spec, schemas, components),
            "responses": _responses(spec, schemas, token_required),
        }
        body = spec.body or spec.body_doc
        if body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": schemas.of(body, "validation")}},
            }
        if not spec.auth:
            operation["security"] = []
        paths.setdefault(spec.path, {})[spec.method.lower()] = operation
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "modeldeck", "version": version},
        "paths": paths,
        "components": {"schemas": components},
    }
    if token_required:
        document["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        document["security"] = [{"bearer": []}]
    return document


#: Methods that write: a storage fault can answer them 503 or 507.
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _responses(spec: RouteSpec, schemas: _Schemas, token_required: bool) -> dict[str, Any]:
    if spec.media_type == "application/json":
        success: Any = schemas.of(spec.response, "serialization") if spec.response else {}
    else:
        success = {"type": "string"}
    responses: dict[str, Any] = {
        str(spec.status): {
            "description": "Success",
            # several types: a route that serves files (the dashboard's assets)
            "content": {media: {"schema": success} for media in spec.media_type.split(", ")},
        },
        "4XX": _error(_CLIENT_ERROR),
    }
    if spec.method in WRITE_METHODS:
        # storage faults (storage/errors.py), mapped in server/errors.py
        responses["503"] = _error("The database cannot be written (deleted, read-only, stuck)")
        responses["507"] = _error("The disk holding the database is full; nothing was written")
    for status, (description, tp) in spec.also.items():
        schema = schemas.of(tp, "serialization") if tp is not None else _ERROR_REF
        responses[str(status)] = {
            "description": description,
            "content": {"application/json": {"schema": schema}},
        }
    return responses


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR_REF}}}


def _path_parameters(spec: RouteSpec, schemas: _Schemas) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": schemas.of(spec.path_params[name], "validation")
            if name in spec.path_params
            else {"type": "string", "minLength": 1},
        }
        for name in _PARAM.findall(spec.path)
    ]


def _query_parameters(
    spec: RouteSpec, schemas: _Schemas, components: dict[str, Any]
) -> list[dict[str, Any]]:
    """One parameter per field of the query model (whose schema is a component)."""
    if spec.query is None:
        return []
    schema = schemas.of(spec.query, "validation")
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[1]]
    required = set(schema.get("required", ()))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop}
        for name, prop in schema.get("properties", {}).items()
    ]
