"""The OpenAPI 3.1 document, generated from the route tables and their pydantic models."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from server.http.api import RouteSpec

_PARAM = re.compile(r"{([^}]+)}")


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {},
            },
        }
    },
}


def build_openapi(specs: list[RouteSpec], *, version: str, token_required: bool) -> dict[str, Any]:
    """Paths, parameters and request bodies of every route, schemas from the models."""
    bodies = sorted(
        {m for s in specs for m in (s.body, s.query) if m is not None}, key=lambda m: m.__name__
    )
    keyed, schemas = models_json_schema(
        [(m, "validation") for m in bodies],
        by_alias=True,
        ref_template="#/components/schemas/{model}",
    )
    components = dict(schemas.get("$defs", {}))
    components["Error"] = _ERROR_SCHEMA
    paths: dict[str, dict[str, Any]] = {}
    for spec in specs:
        operation: dict[str, Any] = {
            "summary": spec.summary,
            "tags": [spec.tag],
            "operationId": f"{spec.method.lower()}_{spec.handler.__name__}_{len(paths)}",
            "parameters": [
                {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                for n in _PARAM.findall(spec.path)
            ]
            + _query_parameters(spec.query),
            "responses": {
                str(spec.status): {"description": "Success", "content": {"application/json": {}}},
                "4XX": _error_response("Client error, naming the field at fault"),
            },
        }
        if spec.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": keyed[(spec.body, "validation")]}},
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


def _query_parameters(model: type[BaseModel] | None) -> list[dict[str, Any]]:
    if model is None:
        return []
    schema = model.model_json_schema(by_alias=True)
    return [
        {"name": name, "in": "query", "required": False, "schema": prop}
        for name, prop in schema.get("properties", {}).items()
    ]
