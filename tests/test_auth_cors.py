"""Token auth on REST and sockets, CORS for REST and Socket.IO from one setting."""

from __future__ import annotations

import signal
from pathlib import Path

import aiohttp
import pytest
import socketio

from server.settings import Settings
from tests.clients import EventRecorder
from tests.conftest import Running
from tests.processes import ServerProcess

TOKEN = "s3cret-token"


async def test_rest_needs_the_bearer_token(start_server, http) -> None:
    server: Running = await start_server(token=TOKEN)
    for path in ("/api/providers", "/v1/models", "/openapi.json", "/api/proxy/status"):
        async with http.get(server.url + path) as resp:
            assert resp.status == 401, path
            assert (await resp.json())["error"]["code"] == "unauthorized"
        async with http.get(server.url + path, headers={"Authorization": "Bearer wrong"}) as resp:
            assert resp.status == 401
    assert (await server.api.get("/api/providers"))[0] == 200  # the helper sends the token
    async with http.get(server.url + "/health") as resp:
        assert resp.status == 200  # health stays open


async def test_socket_needs_the_token(start_server, connect) -> None:
    server: Running = await start_server(token=TOKEN)
    for auth in (None, {"token": "wrong"}, {"nothing": 1}):
        refused = EventRecorder()
        with pytest.raises(socketio.exceptions.ConnectionError):
            await refused.connect(server.url, auth=auth)
        assert "unauthorized" in refused.connect_errors[0]["message"]
    client = await connect(server.url, auth={"token": TOKEN})
    assert (await client.next("proxy:status"))["status"] == "stopped"


async def test_cors_preflight_allowed_and_refused(start_server, http) -> None:
    server: Running = await start_server(cors_origin="http://dash.test", token=TOKEN)
    preflight = {"Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type"}  # fmt: skip
    async with http.options(
        server.url + "/api/providers", headers=preflight | {"Origin": "http://dash.test"}
    ) as resp:
        assert resp.status == 200
        assert resp.headers["Access-Control-Allow-Origin"] == "http://dash.test"
        assert "POST" in resp.headers["Access-Control-Allow-Methods"]
    async with http.options(
        server.url + "/api/providers", headers=preflight | {"Origin": "http://evil.test"}
    ) as resp:
        assert resp.status == 403
        assert "Access-Control-Allow-Origin" not in resp.headers
    # An actual cross-origin request gets the header too.
    async with http.get(
        server.url + "/api/providers",
        headers={"Origin": "http://dash.test", "Authorization": f"Bearer {TOKEN}"},
    ) as resp:
        assert resp.headers["Access-Control-Allow-Origin"] == "http://dash.test"


async def test_socket_cors_uses_the_same_setting(start_server, http) -> None:
    server: Running = await start_server(cors_origin="http://dash.test")
    url = server.url + "/socket.io/?EIO=4&transport=polling"
    async with http.get(url, headers={"Origin": "http://dash.test"}) as resp:
        assert resp.status == 200
        assert resp.headers["Access-Control-Allow-Origin"] == "http://dash.test"
    async with http.get(url, headers={"Origin": "http://evil.test"}) as resp:
        assert resp.status == 403
        assert (await resp.json())["error"]["code"] == "origin_not_allowed"
        assert "Access-Control-Allow-Origin" not in resp.headers


def test_non_loopback_host_needs_a_token() -> None:
    with pytest.raises(ValueError, match=r"refusing to bind 0\.0\.0\.0 without a token"):
        Settings(host="0.0.0.0").check_bind_safety()
    Settings(host="0.0.0.0", token="t").check_bind_safety()
    Settings(host="0.0.0.0", insecure=True).check_bind_safety()
    Settings(host="::1").check_bind_safety()


def test_settings_from_env(monkeypatch) -> None:
    monkeypatch.setenv("PORT", "4321")
    monkeypatch.setenv("CORS_ORIGIN", "http://a.test,http://b.test")
    monkeypatch.setenv("MODELDECK_PULL_WORKERS", "3")
    settings = Settings()
    assert settings.port == 4321 and settings.pull_workers == 3
    assert settings.cors_origins == ["http://a.test", "http://b.test"]
    monkeypatch.setenv("MODELDECK_PORT", "5555")
    assert Settings().port == 5555
    assert Settings(port=6000).port == 6000  # a CLI flag beats the environment


async def test_the_server_log_never_holds_a_query_string(tmp_path: Path) -> None:
    """``/test-client?token=…`` is how the page is opened: the log keeps the path only."""
    process = ServerProcess(tmp_path / "log.db", "--token", TOKEN, "--no-seed")
    try:
        await process.start()
        async with aiohttp.ClientSession() as http:
            for path in (f"/test-client?token={TOKEN}", f"/api/providers?token={TOKEN}&x=1"):
                async with http.get(process.url + path) as resp:
                    await resp.read()
        await process.signal(signal.SIGTERM)
        assert await process.wait(10) == 0
    finally:
        await process.kill()
    log = process.log.read_text()
    assert "GET /test-client " in log and "GET /api/providers 401" in log
    assert TOKEN not in log and "token=" not in log
