"""Browser safety over plain HTTP: Host allow-list, Origin check, JSON-only writes,
the baseUrl rules and the name rules. The same attack from a real page is in
``test_drive_by.py``."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.test_utils import TestServer

from server.registry.upstreams import UpstreamResolver
from server.router.app import create_router_app
from server.settings import Settings
from tests.conftest import Running

KEY = "sk-victim-0123456789abcdef"
ATTACKER = "http://127.0.0.1:9/v1"
PAGE = "http://127.0.0.1:9"  # another local origin: the attacker's page


async def _call(
    http: aiohttp.ClientSession, method: str, url: str, **kw: Any
) -> tuple[int, Any, Any]:
    async with http.request(method, url, **kw) as resp:
        body = await resp.json() if resp.content_type == "application/json" else await resp.text()
        return resp.status, body, resp.headers


# -- Host (DNS rebinding) ----------------------------------------------------------


async def test_a_rebound_host_name_is_refused_everywhere(server: Running, http) -> None:
    rebound = {"Host": f"rebind.attacker.example:{server.server.port}"}
    for method, path in [
        ("GET", "/api/providers"),
        ("GET", "/health"),
        ("GET", "/test-client"),
        ("GET", "/socket.io/?EIO=4&transport=polling"),
        ("POST", "/api/providers"),
    ]:
        status, body, _ = await _call(http, method, server.url + path, headers=rebound, json={})
        assert status == 403, (method, path, body)
        assert body["error"]["code"] == "host_not_allowed"
        assert "--allowed-host" in body["error"]["message"]
    assert (await server.api.get("/api/providers"))[0] == 200  # 127.0.0.1:port itself


async def test_loopback_names_and_allowed_hosts_are_answered(start_server, http) -> None:
    server: Running = await start_server(allowed_hosts=["deck.lan", ".corp.example"])
    port = server.server.port
    for host in ("localhost", f"localhost:{port}", "127.0.0.1:1", "[::1]:80", "app.localhost",
                 "deck.lan:443", "corp.example", "a.b.corp.example", "LOCALHOST."):  # fmt: skip
        status, body, _ = await _call(http, "GET", server.url + "/health", headers={"Host": host})
        assert status == 200, (host, body)
    for host in ("deck.lan.attacker.example", "xcorp.example", "10.1.2.3", ""):
        status, _, _ = await _call(http, "GET", server.url + "/health", headers={"Host": host})
        assert status == 403, host


def test_allowed_hosts_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELDECK_ALLOWED_HOSTS", "a.example, b.example")
    assert Settings().allowed_hosts == ["a.example", "b.example"]
    assert Settings(allowed_hosts=("c.example",)).allowed_hosts == ["c.example"]


# -- Origin (cross-origin pages) -----------------------------------------------------


async def test_other_origins_can_neither_read_nor_write_by_default(server: Running, http) -> None:
    status, body, headers = await _call(
        http, "GET", server.url + "/api/providers", headers={"Origin": PAGE}
    )
    assert status == 403 and body["error"]["code"] == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in headers
    preflight = {"Origin": PAGE, "Access-Control-Request-Method": "PATCH"}
    status, _, headers = await _call(
        http, "OPTIONS", server.url + "/api/providers/x", headers=preflight
    )
    assert status == 403 and "Access-Control-Allow-Origin" not in headers
    # A "simple" POST (no preflight in a browser) is refused before it reaches a handler.
    status, body, _ = await _call(
        http, "POST", server.url + "/api/proxy/start", headers={"Origin": PAGE}
    )
    assert status == 403 and body["error"]["code"] == "origin_not_allowed"
    # The server's own pages (same host:port) keep working.
    status, _, _ = await _call(
        http, "POST", server.url + "/api/models", headers={"Origin": server.url},
        json={"name": "Same origin", "type": "chat"},
    )  # fmt: skip
    assert status == 201


async def test_a_named_origin_gets_cors_without_credentials(start_server, http) -> None:
    server: Running = await start_server(cors_origin=PAGE)
    status, _, headers = await _call(
        http, "GET", server.url + "/api/providers", headers={"Origin": PAGE}
    )
    assert status == 200 and headers["Access-Control-Allow-Origin"] == PAGE
    assert "Access-Control-Allow-Credentials" not in headers  # bearer header, never cookies


def test_any_origin_needs_a_token() -> None:
    with pytest.raises(ValueError, match=r"refusing --cors-origin '\*' without a token"):
        Settings(cors_origin="*").check_bind_safety()
    Settings(cors_origin="*", token="t").check_bind_safety()
    Settings(cors_origin="*", insecure=True).check_bind_safety()


# -- JSON-only writes ------------------------------------------------------------------


async def test_writes_with_a_non_json_body_are_refused(server: Running, http) -> None:
    assert (await server.api.post("/api/providers", {"name": "P", "sdkId": "p"}))[0] == 201
    for path in ("/api/providers/p/disable", "/api/providers/p/reload", "/api/proxy/stop"):
        status, reply, _ = await _call(
            http, "POST", server.url + path, data=b"{}", headers={"Content-Type": "text/plain"}
        )
        assert status == 415, (path, reply)
        assert reply["error"]["details"] == {"field": "Content-Type"}
    status, provider = await server.api.get("/api/providers/p")
    assert provider["enabled"] is True
    # Without a body these actions need no Content-Type.
    assert (await server.api.post("/api/providers/p/disable"))[0] == 200


async def test_the_router_takes_json_only_and_checks_host_and_origin(
    start_server, http, db_path: Path
) -> None:
    await start_server(no_seed=True)  # creates and migrates the database
    settings = Settings(db=db_path, router_port=0, log_level="WARNING")
    router = TestServer(create_router_app(settings), host="127.0.0.1")
    await router.start_server()
    try:
        url = str(router.make_url("/v1/chat/completions"))
        text = {"Content-Type": "text/plain"}
        status, body, _ = await _call(http, "POST", url, data=b'{"model": "m"}', headers=text)
        assert status == 415 and body["error"]["code"] == "unsupported_media_type"
        status, body, _ = await _call(http, "POST", url, json={}, headers={"Origin": PAGE})
        assert status == 403 and body["error"]["code"] == "origin_not_allowed"
        status, body, _ = await _call(
            http, "GET", str(router.make_url("/v1/models")), headers={"Host": "rebind.example"}
        )
        assert status == 403 and body["error"]["code"] == "host_not_allowed"
    finally:
        await router.close()


# -- baseUrl ---------------------------------------------------------------------------


async def _provider(server: Running, **fields: Any) -> dict[str, Any]:
    body = {"id": "victim", "name": "Victim", "sdkId": "victim",
            "baseUrl": "https://api.example/v1", "apiKey": KEY} | fields  # fmt: skip
    status, reply = await server.api.post("/api/providers", body)
    assert status == 201, reply
    return reply


async def test_a_new_base_url_drops_the_stored_key(server: Running) -> None:
    await _provider(server)
    status, reply = await server.api.patch("/api/providers/victim", {"name": "Renamed"})
    assert status == 200 and reply["hasApiKey"] is True
    status, reply = await server.api.patch(
        "/api/providers/victim", {"baseUrl": "https://api.example/v1"}
    )
    assert reply["hasApiKey"] is True  # the same URL again changes nothing
    status, reply = await server.api.patch("/api/providers/victim", {"baseUrl": ATTACKER})
    assert status == 200 and reply["hasApiKey"] is False and reply["apiKeyHint"] is None
    both = {"baseUrl": "https://other.example/v1", "apiKey": "sk-new-key-0001"}
    status, reply = await server.api.put("/api/providers/victim", both)
    assert reply["hasApiKey"] is True and reply["apiKeyHint"] == "sk-…0001"


@pytest.mark.parametrize(
    "url",
    [
        "https://api.example/v1?key=x",
        "https://api.example/v1#frag",
        "http://169.254.169.254/latest",
        "http://2852039166/",
        "http://0xa9.0xfe.0xa9.0xfe/",
        "http://[fd00:ec2::254]/",
        "http://[fe80::1]:8080/",
        "http://[::ffff:169.254.169.254]/",
    ],
)
async def test_base_url_refuses_queries_fragments_and_metadata_addresses(
    server: Running, url: str
) -> None:
    status, reply = await server.api.post(
        "/api/providers", {"name": "Meta", "sdkId": "meta", "baseUrl": url}
    )
    assert status == 422, reply
    assert reply["error"]["message"].startswith("baseUrl: ")
    await _provider(server)
    status, reply = await server.api.patch("/api/providers/victim", {"baseUrl": url})
    assert status == 422 and reply["error"]["message"].startswith("baseUrl: ")
    assert (await server.api.get("/api/providers/victim"))[1]["hasApiKey"] is True


async def test_loopback_upstreams_work_and_the_operator_may_allow_link_local(
    start_server,
) -> None:
    server: Running = await start_server()
    for i, url in enumerate(["http://127.0.0.1:11434/v1", "http://localhost:1234/v1",
                             "http://[::1]:8080/v1"]):  # fmt: skip
        status, reply = await server.api.post(
            "/api/providers", {"name": f"Local {i}", "sdkId": f"local-{i}", "baseUrl": url}
        )
        assert status == 201, reply
    await server.stop()
    opened: Running = await start_server(allow_link_local_upstreams=True)
    status, reply = await opened.api.post(
        "/api/providers", {"name": "Metadata", "sdkId": "md", "baseUrl": "http://169.254.169.254/"}
    )
    assert status == 201, reply
    status, reply = await opened.api.post(
        "/api/providers", {"name": "Q", "sdkId": "q", "baseUrl": "http://169.254.169.254/?a"}
    )
    assert status == 422  # a query string stays refused


class FixedDns(AbstractResolver):
    """Answers from a table: the test cannot make real DNS names point at 169.254.x."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(hostname=host, host=ip, port=port, family=socket.AF_INET, proto=0,
                          flags=socket.AI_NUMERICHOST)
            for ip in self.table[host]
        ]  # fmt: skip

    async def close(self) -> None:
        return None


async def test_names_resolving_to_metadata_addresses_are_not_connected(start_server) -> None:
    server: Running = await start_server(allowed_hosts=["provider.test", "mixed.test"])
    port = server.server.port
    dns = FixedDns({"provider.test": ["127.0.0.1"], "metadata.test": ["169.254.169.254"],
                    "mixed.test": ["169.254.169.254", "127.0.0.1"]})  # fmt: skip
    connector = aiohttp.TCPConnector(resolver=UpstreamResolver(dns), ttl_dns_cache=None)
    async with aiohttp.ClientSession(connector=connector) as session:
        for name in ("provider.test", "mixed.test"):
            async with session.get(f"http://{name}:{port}/health") as resp:
                assert resp.status == 200, name
        with pytest.raises(aiohttp.ClientConnectorError, match="link-local or cloud-metadata"):
            await session.get(f"http://metadata.test:{port}/health")


# -- names -----------------------------------------------------------------------------


async def test_credential_provider_keys_follow_the_id_rules(server: Running) -> None:
    for provider in ("\U0001f600\u202eevil", "a" * 6000, "has space", "-leading"):
        status, reply = await server.api.post(
            f"/api/credentials/{provider}", {"token": "t0ken-value"}
        )
        assert status == 422, (provider, reply)
        assert reply["error"]["message"].startswith("provider: ")
    status, reply = await server.api.post("/api/credentials/qwen-2.5", {"token": "t0ken-value"})
    assert status == 200 and reply["hasCredentials"] is True


@pytest.mark.parametrize(
    "name", ["nul\x00byte", "right\u202eto-left", "isolate\u2067x", "tab\there", "x" * 201]
)
async def test_names_refuse_control_and_bidi_characters(server: Running, name: str) -> None:
    status, reply = await server.api.post("/api/models", {"name": name, "type": "chat"})
    assert status == 422, reply
    assert reply["error"]["message"].startswith("name: ")
    status, reply = await server.api.post("/api/providers", {"name": name, "sdkId": "s"})
    assert status == 422 and reply["error"]["message"].startswith("name: ")


async def test_names_keep_emoji_and_other_scripts(server: Running) -> None:
    for name in ("Модель 👩‍💻", "نموذج", "模型 7B"):
        status, reply = await server.api.post("/api/models", {"name": name, "type": "chat"})
        assert status == 201 and reply["name"] == name
