"""/openapi.json describes every REST route, from the models the routes validate with."""

from __future__ import annotations

import re
from dataclasses import fields

from server.http.responses import ProviderRecord, RegistryProvider
from tests.conftest import Running


async def test_every_registered_route_is_documented(server: Running) -> None:
    status, document = await server.api.get("/openapi.json")
    assert status == 200 and document["openapi"].startswith("3.1")
    documented = {
        (method.upper(), path) for path, ops in document["paths"].items() for method in ops
    }
    registered = set()
    for route in server.app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if route.method in ("HEAD", "OPTIONS", "*") or path.startswith("/socket.io"):
            continue
        registered.add((route.method, path))
    assert registered, "no routes found"
    assert registered <= documented, registered - documented


async def test_request_bodies_come_from_the_pydantic_models(server: Running) -> None:
    _, document = await server.api.get("/openapi.json")
    create = document["paths"]["/api/providers"]["post"]["requestBody"]["content"]
    ref = create["application/json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(schema["required"]) == {"name", "sdkId"}
    assert "apiKey" in schema["properties"]
    params = {p["name"] for p in document["paths"]["/api/models"]["get"]["parameters"]}
    assert params == {"type", "providerId", "enabled"}
    path_params = document["paths"]["/api/models/{id}/config/{section}"]["get"]["parameters"]
    assert [p["name"] for p in path_params] == ["id", "section"]
    assert all(re.match(r"^[a-z]+_", op["operationId"]) for op in _operations(document))


def _operations(document: dict) -> list[dict]:
    return [op for ops in document["paths"].values() for op in ops.values()]


def _schema(document: dict, schema: dict) -> dict:
    """Follow a ``$ref`` into components."""
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


async def test_every_success_response_has_its_schema(server: Running) -> None:
    _, document = await server.api.get("/openapi.json")
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            success = [s for s in op["responses"] if s.startswith("2")]
            assert success, (method, path)
            for status in success:
                for media_type, content in op["responses"][status]["content"].items():
                    assert content.get("schema"), (method, path, status, media_type)
            assert op["responses"]["4XX"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Error"
            }
    created = document["paths"]["/api/providers"]["post"]["responses"]["201"]
    provider = _schema(document, created["content"]["application/json"]["schema"])
    assert provider["additionalProperties"] is False
    assert {"id", "name", "sdkId", "hasApiKey", "apiKeyHint", "createdAt"} <= set(
        provider["required"]
    )
    assert "apiKey" not in provider["properties"]  # write-only


async def test_non_json_routes_say_what_they_send(server: Running) -> None:
    _, document = await server.api.get("/openapi.json")
    media = {
        path: next(iter(ops["get"]["responses"]["200"]["content"]))
        for path, ops in document["paths"].items()
        if "get" in ops
    }
    assert media["/metrics"] == "text/plain"
    assert media["/test-client"] == "text/html"
    assert media["/test-client/socket.io.min.js"] == "text/javascript"
    assert media["/api/models"] == "application/json"
    status, text = await server.api.get("/metrics")
    assert status == 200 and "modeldeck_http_requests" in text


async def test_config_sections_are_an_enum_with_documented_bodies(server: Running) -> None:
    _, document = await server.api.get("/openapi.json")
    ops = document["paths"]["/api/models/{id}/config/{section}"]
    for op in ops.values():
        section = next(p for p in op["parameters"] if p["name"] == "section")
        assert section["schema"]["enum"] == [
            "sampling", "memory", "gpu", "advanced", "lora", "multimodal"
        ]  # fmt: skip
    body = ops["put"]["requestBody"]["content"]["application/json"]["schema"]
    names = {ref["$ref"].rsplit("/", 1)[1] for ref in body["anyOf"]}
    assert names == {"Sampling", "Memory", "Gpu", "Advanced", "Lora", "Multimodal"}
    sampling = document["components"]["schemas"]["Sampling"]
    assert sampling["properties"]["temperature"]["anyOf"][0]["maximum"] == 2


async def test_update_bodies_advertise_null_only_where_it_is_accepted(server: Running) -> None:
    _, document = await server.api.get("/openapi.json")
    update = document["components"]["schemas"]["ModelUpdate"]["properties"]
    for field in ("name", "enabled", "isDefault", "type", "status", "description", "sdkId"):
        assert "null" not in str(update[field]), (field, update[field])
        status, body = await server.api.patch("/api/models/sdxl", {field: None})
        assert status == 422, (field, body)
    assert {"type": "null"} in update["providerId"]["anyOf"]
    assert (await server.api.patch("/api/models/sdxl", {"contextLength": None}))[0] == 200


async def test_types_bounds_and_formats_are_documented(server: Running) -> None:
    _, document = await server.api.get("/openapi.json")
    schemas = document["components"]["schemas"]
    assert schemas["ModelCreate"]["properties"]["isDefault"]["type"] == "boolean"
    expires = schemas["CredentialsPut"]["properties"]["expiresAt"]["anyOf"][0]
    assert expires["type"] == "integer"
    for model, field in (("ProviderCreate", "baseUrl"), ("ModelCreate", "modelUrl")):
        assert schemas[model]["properties"][field]["anyOf"][0]["format"] == "uri"
    since = next(
        p for p in document["paths"]["/api/events"]["get"]["parameters"] if p["name"] == "since"
    )
    assert since["schema"]["maximum"] == 2**63 - 1


async def test_ollama_routes_document_their_503(server: Running) -> None:
    _, document = await server.api.get("/openapi.json")
    for path, method in (
        ("/api/ollama/models", "get"),
        ("/api/ollama/models/{name}", "get"),
        ("/api/ollama/models/{name}", "delete"),
        ("/api/ollama/models/{name}/vram", "get"),
        ("/api/ollama/pulls", "post"),
    ):
        assert "503" in document["paths"][path][method]["responses"], (method, path)
    pull = document["paths"]["/api/ollama/pulls"]["post"]["responses"]
    assert {"200", "202"} <= set(pull)


def test_read_models_list_the_record_fields() -> None:
    """The registry read model repeats the provider record's fields: keep them equal."""
    record = {f.name for f in fields(ProviderRecord)}
    assert set(RegistryProvider.model_fields) == record | {"models"}
