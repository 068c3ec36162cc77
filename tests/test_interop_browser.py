"""Interop: the browser page in headless Chromium, same-origin and cross-origin.

Debian's ``chromium`` runs the page under ``playwright-core`` (``tests/browser_check.mjs``,
a small command loop over stdin/stdout), so a real browser build of socket.io-client
talks to the server: the page served at ``/test-client`` connects and shows events
as the test writes over REST, and a page served from another origin connects only
when the server's ``cors_origin`` allows that origin.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from server.http.routes import test_client as routes_test_client
from tests.browser import LIBRARY, Browser, needs_browser
from tests.children import (
    TEST_CLIENTS,
    TOKEN,
    require_npm_packages,
)
from tests.conftest import Running


@pytest.fixture
async def page_server() -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """Serve the page and the library from another origin (port); yields its URL."""
    servers: list[TestServer] = []

    async def start() -> str:
        async def page(request: web.Request) -> web.FileResponse:
            return web.FileResponse(TEST_CLIENTS / "browser.html")

        async def library(request: web.Request) -> web.FileResponse:
            return web.FileResponse(LIBRARY)

        app = web.Application()
        app.router.add_get("/", page)
        app.router.add_get("/socket.io.min.js", library)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url("")).rstrip("/")

    yield start
    for server in servers:
        await server.close()


# -- the routes, no browser needed ------------------------------------------------


async def test_page_and_library_are_served_without_a_token(start_server) -> None:
    require_npm_packages()
    server: Running = await start_server(token=TOKEN)
    server.api.token = None
    for path in ("/test-client", "/test-client/"):
        status, body = await server.api.get(path)
        assert status == 200 and "modeldeck live events" in body
    status, body = await server.api.get("/test-client/socket.io.min.js")
    assert status == 200 and "socket.io" in body.lower()
    assert (await server.api.get("/api/models"))[0] == 401  # the API still needs the token


async def test_without_npm_packages_the_page_says_to_run_npm_ci(
    server: Running, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(routes_test_client, "LIBRARY", tmp_path / "socket.io.min.js")
    for path in ("/test-client", "/test-client/socket.io.min.js"):
        status, body = await server.api.get(path)
        assert status == 404
        assert "run `npm ci` in" in body["error"]["message"]


# -- in Chromium ------------------------------------------------------------------


@needs_browser
@pytest.mark.parametrize("token", [None, TOKEN], ids=["open", "token"])
async def test_page_connects_and_shows_events_as_they_happen(
    start_server, browser: Browser, token: str | None
) -> None:
    server: Running = await start_server(token=token)
    query = f"?token={token}" if token else ""
    assert (await browser.do("open", url=f"{server.url}/test-client{query}"))["status"] == 200
    await browser.do("state", **{"is": "connected"})
    await browser.do("event", name="proxy:status")

    model = {"id": "seen-in-browser", "name": "Seen in browser", "type": "chat"}
    assert (await server.api.post("/api/models", model))[0] == 201
    await browser.do("event", name="models:updated", text='"modelId":"seen-in-browser"')

    await browser.do("click", selector="#allow-writes")  # writes only when asked
    await browser.do("click", selector="#create-socket")  # the page writes over the socket
    await browser.do("event", name="models:updated", text='"name":"Browser model ')
    # The library loaded at the first try: no 404 (nor any other failed load) on the way.
    assert not [line for line in browser.child.err if "Failed to load" in line], (
        browser.child.transcript()
    )


@needs_browser
async def test_cross_origin_page_connects_when_its_origin_is_allowed(
    start_server, browser: Browser, page_server
) -> None:
    page = await page_server()
    server: Running = await start_server(cors_origin=page)
    await browser.do("open", url=f"{page}/?server={server.url}")
    await browser.do("state", **{"is": "connected"})

    await browser.do("click", selector="#allow-writes")
    await browser.do("click", selector="#create-rest")  # a cross-origin fetch, CORS-allowed
    await browser.do("event", name="models:updated", text='"name":"Browser model ')


@needs_browser
async def test_cross_origin_page_is_refused_when_its_origin_is_not_allowed(
    start_server, browser: Browser, page_server
) -> None:
    page = await page_server()
    server: Running = await start_server(cors_origin="http://127.0.0.1:9")
    await browser.do("open", url=f"{page}/?server={server.url}")
    refused = await browser.do("state", prefix="error")
    assert refused["state"] == "error: xhr poll error"  # the handshake got a 400
    status, health = await server.api.get("/health")
    assert status == 200 and health["clients"] == 0
