"""REST credentials: write-only secrets, a status view, and seed 002's qwen alias."""

from __future__ import annotations

import time

from tests.conftest import Running


async def test_set_read_delete_through_the_alias(server: Running, connect) -> None:
    client = await connect(server.url)
    status, view = await server.api.get("/api/qwen/credentials")
    assert status == 200
    assert view["hasCredentials"] is False and view["isValid"] is False

    expires = int(time.time()) + 3600
    body = {"token": "tok-123", "cookies": "a=b", "expiresAt": expires}
    status, view = await server.api.post("/api/qwen/credentials", body)
    assert status == 200
    assert view == {
        "provider": "qwen", "hasCredentials": True, "isValid": True, "isExpired": False,
        "expiresAt": expires, "createdAt": view["createdAt"], "updatedAt": view["updatedAt"],
    }  # fmt: skip
    event = await client.next("credentials:updated")
    assert event["action"] == "updated" and event["provider"] == "qwen"
    assert event["hasCredentials"] is True and event["expiresAt"] == expires
    status_event = await client.next("proxy:status", where=lambda s: s["seq"] > event["seq"])
    assert status_event["credentials"]["hasCredentials"] is True

    # The alias and the general route are the same credentials.
    assert (await server.api.get("/api/credentials/qwen"))[1]["hasCredentials"] is True
    status, view = await server.api.delete("/api/credentials/qwen")
    assert status == 200 and view["hasCredentials"] is False
    assert (await client.next("credentials:updated"))["action"] == "deleted"
    status, error = await server.api.delete("/api/qwen/credentials")
    assert status == 404 and error["error"]["code"] == "not_found"


async def test_expired_credentials_are_reported(server: Running) -> None:
    body = {"token": "tok", "expiresAt": int(time.time()) - 10}
    _, view = await server.api.post("/api/credentials/other", body)
    assert view["isExpired"] is True and view["isValid"] is False


async def test_bad_credentials_are_rejected(server: Running) -> None:
    for body, field in [
        ({}, "token"),
        ({"token": ""}, "token"),
        ({"token": "t", "expiresAt": "soon"}, "expiresAt"),
    ]:
        status, error = await server.api.post("/api/qwen/credentials", body)
        assert status == 422 and error["error"]["message"].startswith(field)
    assert (await server.api.get("/api/qwen/credentials"))[1]["hasCredentials"] is False
