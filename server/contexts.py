"""All of the app's wiring: the resources it holds, in dependency order, and its socket events.

``create_app`` appends ``CLEANUP_CONTEXTS`` in this order: storage (database, registry
service, read cache, event bus), the Ollama client, the pull worker pool, the proxy
supervisor, then the socket handlers. Shutdown runs them in reverse, so proxies stop and
pull workers end before the Ollama session and the database close. Services take what
they need as constructor arguments; this module alone reads ``app[...]`` to build them.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import aiohttp
from aiohttp import web

from events.bus import EventBus
from events.names import Format
from events.tail import LogTailer
from events.wakeup import Wakeups
from server.instance import Presence
from server.keys import (
    BUS,
    DATABASE,
    HUB,
    INSTANCE,
    LEASE,
    METRICS,
    OLLAMA,
    OLLAMA_HEALTH,
    PRESENCE,
    PROXY,
    PULLS,
    REGISTRY,
    REGISTRY_CACHE,
    SETTINGS,
    SUPERVISOR,
    TAILER,
)
from server.metrics import process_metrics
from server.ollama.client import OllamaClient
from server.ollama.pool import PullPool
from server.ollama.service import OllamaService
from server.realtime.catch_up import missed_in_format
from server.realtime.hub import SocketHub
from server.realtime.pull_requests import PullRequests
from server.realtime.requests import SocketRequests
from server.registry import snapshots
from server.registry.cache import RegistryCache
from server.registry.seeding import seed_once
from server.registry.service import RegistryService
from server.supervisor.lease import SupervisionLease
from storage import event_log
from storage.clock import utc_now_iso
from storage.database import Database
from storage.records import LoggedEvent
from storage.secret_key import load_secret_key, record_fingerprint

log = logging.getLogger("modeldeck")

SocketHandler = Callable[..., Awaitable[Any]]


async def storage_context(app: web.Application) -> AsyncIterator[None]:
    """Database, registry service, read cache and event bus, in that order."""
    settings = app[SETTINGS]
    given = settings.secret_key.get_secret_value() if settings.secret_key is not None else None
    key = load_secret_key(settings.db, settings.key_file, given)
    if key.created is not None:
        log.warning(
            "generated the secret key %s: it encrypts stored API keys and credentials; "
            "back it up with the database: losing it loses every stored secret", key.created
        )
    db = Database(settings.db, key.box, event_retention=settings.event_retention)
    await db.open()
    if db.migrations_applied:
        log.info("database %s migrated: %s", settings.db, ", ".join(db.migrations_applied))
    try:
        await record_fingerprint(db, key.fingerprint)
        if not settings.no_seed:
            await seed_once(db)
        cache = RegistryCache(db)

        async def read_range(after: int, until: int) -> list[LoggedEvent]:
            return await event_log.since(db, after, limit=until - after, until=until)

        async def read_after(after: int, limit: int) -> list[LoggedEvent]:
            return await event_log.since(db, after, limit=limit)

        # Loaded before the bus starts and before any write: the mirror's seq is the log's.
        async def read_gap(after: int, until: int) -> list[LoggedEvent]:
            # What other processes share through the database (their pull jobs) first:
            # a job's end goes out before the events committed with it.
            await tailer.run_hooks()
            return await read_range(after, until)

        mirror = await snapshots.load_mirror(db)
        bus = EventBus(app[HUB], mirror, last_seq=mirror.seq, read_range=read_gap)

        def on_commit(events: Sequence[LoggedEvent]) -> None:
            cache.invalidate()
            bus.publish(events)

        # Other processes sharing the database: their events come through the log.
        tailer = LogTailer(
            data_version=lambda: event_log.data_version(db),
            read_after=read_after,
            deliver=on_commit,  # type: ignore[arg-type]
            received_seq=lambda: bus.received_seq,
            log_head=lambda: event_log.current_seq(db),
        )
        wakeups = Wakeups(db.path)

        def on_local_commit(events: Sequence[LoggedEvent]) -> None:
            on_commit(events)
            wakeups.notify()  # the other processes of this database: look now

        db.on_commit = on_local_commit
        bus.start()
        tailer.start()
        wakeups.start(tailer.wake)
        presence = Presence(db, app[INSTANCE])
        await presence.start()
        app[PRESENCE] = presence
        lease = SupervisionLease(db, app[SUPERVISOR], presence)
        app[PROXY] = app[LEASE] = lease
        app[METRICS].extra.append(
            process_metrics(app[INSTANCE], bus, tailer, supervises=lambda: lease.held)
        )
        app[DATABASE] = db
        app[BUS] = bus
        app[TAILER] = tailer
        app[REGISTRY_CACHE] = cache
        app[REGISTRY] = RegistryService(
            db, app[PROXY], allow_link_local_upstreams=settings.allow_link_local_upstreams
        )
        yield
        await presence.close()
        wakeups.close()
        await tailer.stop()
        await bus.stop(timeout=settings.shutdown_timeout)
    finally:
        await db.close()


async def ollama_context(app: web.Application) -> AsyncIterator[None]:
    """One ``ClientSession`` for the app's lifetime, and the service built on it.

    Nothing here talks to Ollama at start-up: modeldeck starts and serves while Ollama
    is down, and each Ollama route answers 503 until it is back.
    """
    async with aiohttp.ClientSession() as session:
        client = OllamaClient(app[SETTINGS].ollama_url, session)
        service = OllamaService(client, app[DATABASE])
        app[OLLAMA] = service
        app[OLLAMA_HEALTH] = service.healthy
        yield


async def pull_pool_context(app: web.Application) -> AsyncIterator[None]:
    """The pool, after storage and the Ollama client; closed before either goes away.

    Start-up fails the jobs a previous process left active; shutdown cancels running
    pulls within ``shutdown_timeout``, so workers stop before the database closes.
    """
    settings = app[SETTINGS]
    presence = app[PRESENCE]
    pool = PullPool(
        db=app[DATABASE],
        service=app[OLLAMA],
        hub=app[HUB],
        workers=settings.pull_workers,
        owner=presence.instance.id,
        live=presence.live,
        peers=lambda: presence.peers,
    )
    await pool.start()
    presence.on_beat.append(pool.fail_orphans)
    app[TAILER].on_change.append(pool.on_database_change)  # jobs other processes run
    app[PULLS] = pool
    try:
        yield
    finally:
        app[TAILER].on_change.remove(pool.on_database_change)
        await pool.close(timeout=settings.shutdown_timeout)


async def supervisor_context(app: web.Application) -> AsyncIterator[None]:
    """Publish process changes through the registry service; supervise only while this
    process holds the lease; stop all children (and free the lease) on exit."""
    supervisor, lease = app[SUPERVISOR], app[LEASE]
    lease.publish = app[REGISTRY].publish_proxy_status
    supervisor.on_change = lease.changed
    supervisor.open()
    for message in await lease.open(autostart=app[SETTINGS].proxy_autostart):
        log.error("%s", message)
    try:
        yield
    finally:
        await lease.close()
        supervisor.on_change = None


def socket_handlers(
    hub: SocketHub, registry: RegistryService, pool: PullPool
) -> list[tuple[str, SocketHandler]]:
    """Every Socket.IO event the server answers, and who answers it (SPEC "Socket.IO")."""
    requests = SocketRequests(hub, registry)
    pulls = PullRequests(hub, pool)
    return [
        ("connect", hub.on_connect),
        ("disconnect", hub.on_disconnect),
        ("subscribe", hub.on_subscribe),
        ("unsubscribe", hub.on_unsubscribe),
        ("save_model", requests.answered("model_saved", requests.save_model)),
        ("update_model", requests.answered("model_updated", requests.update_model)),
        ("delete_model", requests.answered("model_deleted", requests.delete_model)),
        ("load_config", requests.answered("config_loaded", requests.load_config)),
        ("save_config", requests.answered("config_saved", requests.save_config)),
        ("models:list", requests.list_models),
        ("pull:subscribe", pulls.subscribe),
        ("pull:unsubscribe", pulls.unsubscribe),
        ("pull:start", pulls.start),
    ]


async def sockets_context(app: web.Application) -> AsyncIterator[None]:
    """Bind the hub to the state it greets clients with, and register every handler.

    Last in line: it needs the services above, and no client can connect before every
    cleanup context has started.
    """
    hub, db, bus, proxy = app[HUB], app[DATABASE], app[BUS], app[PROXY]
    mirror = bus.mirror

    def greeting() -> tuple[int, bytes]:
        status = snapshots.greeting_status(proxy.snapshot(), utc_now_iso())
        return mirror.seq, mirror.greeting(status)

    async def missed(last_seq: int, upper: int, topics: list[str], fmt: Format) -> Any:
        return await missed_in_format(db, mirror, last_seq, upper, topics, fmt)

    hub.bind(greeting=greeting, missed=missed, current_seq=lambda: mirror.seq)
    for event, handler in socket_handlers(hub, app[REGISTRY], app[PULLS]):
        hub.sio.on(event, handler)
    yield


CLEANUP_CONTEXTS = (
    storage_context,
    ollama_context,
    pull_pool_context,
    supervisor_context,
    sockets_context,
)


async def close_sockets(app: web.Application) -> None:
    """On shutdown, before the cleanup contexts: aiohttp would otherwise wait out its
    shutdown timeout on open websockets."""
    await app[HUB].close(timeout=app[SETTINGS].shutdown_timeout)
