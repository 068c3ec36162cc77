"""The browser test client: ``test_clients/browser.html`` at ``/test-client``.

The page loads socket.io-client's browser build, which npm puts in
``test_clients/node_modules``; these machines have no internet, so there is no CDN to
fall back on. Both are served only when ``npm ci`` has run in ``test_clients/``;
otherwise both answer 404 saying so. The page and the library are public (no token):
the page asks for the token itself (``?token=`` or its form) and sends it with every
REST call and socket connection, which is where the token is checked.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from server.errors import ResourceNotFound
from server.http.api import RouteTable

api = RouteTable("test-client")

TEST_CLIENTS = Path(__file__).resolve().parents[3] / "test_clients"
PAGE = TEST_CLIENTS / "browser.html"
LIBRARY = TEST_CLIENTS / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"


def _installed() -> None:
    """404 unless both the page and the npm-installed library are on disk."""
    if not PAGE.is_file():
        raise ResourceNotFound(f"The test client page is not installed ({PAGE} is missing)")
    if not LIBRARY.is_file():
        raise ResourceNotFound(
            "The test client needs socket.io-client from npm: "
            f"run `npm ci` in {TEST_CLIENTS} ({LIBRARY} is missing)"
        )


def _file(path: Path, media_type: str) -> web.FileResponse:
    _installed()
    # no-cache: an edited page (or a re-run `npm ci`) shows on the next reload. The type
    # is set, not guessed from the system's mime table, so it is the one documented.
    return web.FileResponse(path, headers={"Cache-Control": "no-cache", "Content-Type": media_type})


_PAGE = {"summary": "Browser test client page (needs `npm ci`)", "auth": False, "response": str}


@api.get("/test-client", media_type="text/html", **_PAGE)
async def page(request: web.Request) -> web.StreamResponse:
    return _file(PAGE, "text/html; charset=utf-8")


api.get("/test-client/", media_type="text/html", **_PAGE)(page)


@api.get(
    "/test-client/socket.io.min.js",
    summary="socket.io-client's browser build for the test page",
    auth=False,
    response=str,
    media_type="text/javascript",
)
async def library(request: web.Request) -> web.StreamResponse:
    return _file(LIBRARY, "text/javascript; charset=utf-8")
