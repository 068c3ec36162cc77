"""Every typed application key: the app's dependencies, set by ``create_app`` and
``server.contexts``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from events.bus import EventBus
from events.tail import LogTailer
from server.browser_guard import BrowserGuard
from server.http.api import RouteSpec
from server.instance import Instance, Presence
from server.metrics import Metrics
from server.ollama.pool import PullPool
from server.ollama.service import OllamaService
from server.realtime.hub import SocketHub
from server.registry.cache import RegistryCache
from server.registry.proxy_state import ProxyState
from server.registry.service import RegistryService
from server.settings import Settings
from server.supervisor.lease import SupervisionLease
from server.supervisor.service import Supervisor
from storage.database import Database

SETTINGS = web.AppKey("settings", Settings)
DATABASE = web.AppKey("database", Database)
BUS = web.AppKey("bus", EventBus)
TAILER = web.AppKey("tailer", LogTailer)
REGISTRY = web.AppKey("registry", RegistryService)
REGISTRY_CACHE = web.AppKey("registry_cache", RegistryCache)
HUB = web.AppKey("hub", SocketHub)
STARTED_AT = web.AppKey("started_at", float)
ROUTE_SPECS = web.AppKey[list[RouteSpec]]("route_specs")
PROXY = web.AppKey[ProxyState]("proxy")
SUPERVISOR = web.AppKey("supervisor", Supervisor)
LEASE = web.AppKey("supervision_lease", SupervisionLease)
OLLAMA_HEALTH = web.AppKey[Callable[[], Awaitable[bool]]]("ollama_health")
OLLAMA = web.AppKey("ollama", OllamaService)
PULLS = web.AppKey("pulls", PullPool)
METRICS = web.AppKey("metrics", Metrics)
GUARD = web.AppKey("browser_guard", BrowserGuard)
INSTANCE = web.AppKey("instance", Instance)
PRESENCE = web.AppKey("presence", Presence)
