"""Every typed application key: the app's dependencies, created in cleanup contexts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    pass

SETTINGS = web.AppKey["Settings"]("settings")
DATABASE = web.AppKey["Database"]("database")
BUS = web.AppKey["EventBus"]("bus")
REGISTRY = web.AppKey["RegistryService"]("registry")
REGISTRY_CACHE = web.AppKey["RegistryCache"]("registry_cache")
SIO = web.AppKey["socketio.AsyncServer"]("sio")
HUB = web.AppKey["SocketHub"]("hub")
STARTED_AT = web.AppKey[float]("started_at")
ROUTE_SPECS = web.AppKey["list[RouteSpec]"]("route_specs")
PROXY = web.AppKey["ProxyState"]("proxy")
SUPERVISOR = web.AppKey["Supervisor"]("supervisor")
OLLAMA_HEALTH = web.AppKey["Callable[[], Awaitable[bool]]"]("ollama_health")
OLLAMA = web.AppKey["OllamaService"]("ollama")
PULLS = web.AppKey["PullPool"]("pulls")
METRICS = web.AppKey["Metrics"]("metrics")
