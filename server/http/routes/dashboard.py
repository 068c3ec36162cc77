"""The dashboard: ``server/dashboard/dist/index.html`` at ``/`` and its files at ``/assets/``.

The page is a Vite build of ``server/dashboard/`` (``npm ci`` and ``npm run build``
there); nothing is fetched from another origin. The built files are not in the
repository, so when they are missing the server still starts and ``/`` answers one
line saying how to build them. The page and its assets are public like
``/test-client``: the page asks for the token itself and sends it with every REST
call and socket connection, where it is checked.

Asset names carry a content hash, so they are cached for good; ``index.html`` is
revalidated on every load so a rebuild shows at the next reload.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

import server
from server.errors import ResourceNotFound
from server.http.api import RouteTable

api = RouteTable("dashboard")

DASHBOARD = Path(server.__file__).resolve().parent / "dashboard"
DIST = DASHBOARD / "dist"
#: What Vite builds: scripts and styles, each served with its own type.
ASSET_TYPES = "text/javascript, text/css"
BUILD_COMMAND = "npm ci --prefix server/dashboard && npm run build --prefix server/dashboard"
NOT_BUILT = (
    "<!doctype html><meta charset=utf-8><title>modeldeck</title>"
    "<p>The dashboard is not built yet: run <code>{command}</code> and reload.</p>\n"
)


@api.get(
    "/",
    summary="The live dashboard (needs `npm run build` in server/dashboard)",
    auth=False,
    response=str,
    media_type="text/html",
)
async def page(request: web.Request) -> web.StreamResponse:
    index = DIST / "index.html"
    if not index.is_file():
        return web.Response(
            text=NOT_BUILT.format(command=BUILD_COMMAND),
            content_type="text/html",
            headers={"Cache-Control": "no-cache"},
        )
    return web.FileResponse(index, headers={"Cache-Control": "no-cache"})


@api.get(
    "/assets/{name}",
    summary="The dashboard's built scripts and styles",
    auth=False,
    response=str,
    media_type=ASSET_TYPES,
)
async def asset(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    assets = DIST / "assets"
    path = assets / name
    # `{name}` never holds a slash; this also refuses `..` and anything not built.
    media_type = _TYPE_OF.get(path.suffix)
    if name.startswith(".") or path.parent != assets or media_type is None or not path.is_file():
        raise ResourceNotFound(f"No dashboard file '{name}' (is the dashboard built?)")
    # The type is set, not guessed from the system's mime table, so it is the documented one.
    headers = {"Cache-Control": "public, max-age=31536000, immutable", "Content-Type": media_type}
    return web.FileResponse(path, headers=headers)


_TYPE_OF = {".js": "text/javascript", ".css": "text/css"}
