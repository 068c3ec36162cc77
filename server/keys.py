"""Every typed application key: the app's dependencies, created in cleanup contexts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:  # the keys name their types as strings: no import cycles at runtime
    from collections.abc import Awaitable, Callable  # noqa: F401

    import socketio  # noqa: F401

    from events.bus import EventBus  # noqa: F401
    from server.browser_guard import BrowserGuard  # noqa: F401
    from server.http_api import RouteSpec  # noqa: F401
    from server.metrics import Metrics  # noqa: F401
    from server.ollama_service import OllamaService  # noqa: F401
    from server.proxy_state import ProxyState  # noqa: F401
    from server.pull_pool import PullPool  # noqa: F401
    from server.registry_cache import RegistryCache  # noqa: F401
    from server.registry_service import RegistryService  # noqa: F401
    from server.settings import Settings  # noqa: F401
    from server.socket_hub import SocketHub  # noqa: F401
    from server.supervisor import Supervisor  # noqa: F401
    from storage.database import Database  # noqa: F401

SETTINGS = web.AppKey["Settings"]("settings")
DATABASE = web.AppKey["Database"]("database")
BUS = web.AppKey["EventBus"]("bus")
REGISTRY = web.AppKey["RegistryService"]("registry")
REGISTRY_CACHE = web.AppKey["RegistryCache"]("registry_cache")
HUB = web.AppKey["SocketHub"]("hub")
STARTED_AT = web.AppKey[float]("started_at")
ROUTE_SPECS = web.AppKey["list[RouteSpec]"]("route_specs")
PROXY = web.AppKey["ProxyState"]("proxy")
SUPERVISOR = web.AppKey["Supervisor"]("supervisor")
OLLAMA_HEALTH = web.AppKey["Callable[[], Awaitable[bool]]"]("ollama_health")
OLLAMA = web.AppKey["OllamaService"]("ollama")
PULLS = web.AppKey["PullPool"]("pulls")
METRICS = web.AppKey["Metrics"]("metrics")
GUARD = web.AppKey["BrowserGuard"]("browser_guard")
