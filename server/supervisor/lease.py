"""Exactly one of the processes sharing a database supervises the proxy processes.

The supervising process holds the ``proxy-supervisor`` lease, a row with holder and
expiry that it renews every ``RENEW`` seconds. Any other process takes the lease when
it is free (released at shutdown), expired (``TTL``: a frozen holder), or held by a
process whose pid is gone (a SIGKILL: noticed at the next renewal). Whoever takes it
starts the proxy processes that are wished running; the pid files of
``server.supervisor.system`` end any child the previous holder left behind, so no proxy
is orphaned or doubled.

Start and stop work through any process: the request is recorded as a *wish* in the
database, the holder acts on it (at once if that is this process, within ``TICK``
otherwise) and notes the outcome, and the requester waits for that outcome. The holder
stores its snapshot of the processes on every change; the others read it, so
``proxy:status`` is the same on all of them.

``SupervisionLease`` is the app's ``ProxyState``. One event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

import orjson

from events.payloads import ProcessBlock
from server.errors import Unavailable
from server.instance import Presence
from server.registry.proxy_state import ProxySnapshot
from server.supervisor.service import Supervisor
from storage import proxy_control
from storage.database import Database

log = logging.getLogger("modeldeck.supervisor")

LEASE = "proxy-supervisor"
TICK = 0.2  # how often the holder looks for wishes and the others re-read its snapshot
RENEW = 2.0
TTL = 6.0
#: How long a start/stop request waits for the holder to act on it.
ACT_TIMEOUT = 60.0

Publish = Callable[[], Awaitable[None]]


class SupervisionLease:
    """Holds (or waits for) the supervision lease and routes start/stop through it."""

    def __init__(self, db: Database, supervisor: Supervisor, presence: Presence) -> None:
        self.db = db
        self.supervisor = supervisor
        self.presence = presence
        self.publish: Publish | None = None
        self.held = False
        #: When this process last took the lease (for /metrics and the take-over bench).
        self.taken_at: float | None = None
        self._shared: tuple[ProxySnapshot, float] | None = None
        self._applied: dict[str, float] = {}
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._apply_lock = asyncio.Lock()

    @property
    def me(self) -> str:
        return self.presence.instance.id

    # -- ProxyState --------------------------------------------------------------------

    def snapshot(self) -> ProxySnapshot:
        shared = self._shared
        if self.held or shared is None:
            return self.supervisor.snapshot()
        snapshot, saved_at = shared
        age = max(0.0, time.time() - saved_at)
        processes = {
            name: block.model_copy(update={"uptime": round(block.uptime + age, 3)})
            if block.pid is not None else block
            for name, block in snapshot.processes.items()
        }  # fmt: skip
        return ProxySnapshot(snapshot.status, processes, snapshot.message)

    async def changed(self) -> None:
        """The supervisor's on_change: store the snapshot for the others, then publish."""
        if self.held:
            snapshot = self.supervisor.snapshot()
            body = orjson.dumps({
                "status": snapshot.status,
                "message": snapshot.message,
                "processes": {n: b.model_dump() for n, b in snapshot.processes.items()},
            })  # fmt: skip
            async with self.db.transaction() as tx:
                await proxy_control.save_snapshot(tx, self.me, body, time.time())
        if self.publish is not None:
            await self.publish()

    # -- lifecycle ---------------------------------------------------------------------

    async def open(self, *, autostart: bool) -> list[str]:
        """Record the start-up wish, try for the lease, and act if it was taken.

        The first process of a database (no live peer) starts from its own flags: the
        wishes a previous run left are cleared. A process joining others keeps them.
        Returns the failure messages of processes that did not start.
        """
        names = list(self.supervisor.processes)
        async with self.db.transaction() as tx:
            if self.presence.peers == 0:
                await proxy_control.clear_wishes(tx)
            if autostart:
                await proxy_control.wish(tx, names, True, time.time())
        await self._renew()
        failures = [m for _, m in await self._apply()] if self.held else []
        if not self.held:
            await self._refresh()
        self._tasks = [
            asyncio.create_task(self._renew_loop(), name="proxy-lease"),
            asyncio.create_task(self._act_loop(), name="proxy-wishes"),
        ]
        return failures

    async def close(self) -> None:
        """Stop acting; the holder stops its children and frees the lease at once, so
        another process takes over at its next renewal."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.supervisor.close()
        if self.held:
            self.held = False
            with contextlib.suppress(Exception):
                async with self.db.transaction() as tx:
                    await proxy_control.release_lease(tx, LEASE, self.me)

    # -- requests ------------------------------------------------------------------------

    async def start(self, name: str | None = None) -> list[tuple[str, str]]:
        """Start the named process, or all; ``(name, message)`` of those that failed."""
        return await self._request(name, running=True)

    async def stop(self, name: str | None = None) -> None:
        await self._request(name, running=False)

    async def _request(self, name: str | None, *, running: bool) -> list[tuple[str, str]]:
        names = [p.spec.name for p in self.supervisor.select(name)]  # 404 for unknown names
        requested = time.time()
        async with self.db.transaction() as tx:
            await proxy_control.wish(tx, names, running, requested)
        if self.held:
            await self._apply()
        try:
            async with asyncio.timeout(ACT_TIMEOUT):
                while True:
                    mine = [w for w in await proxy_control.wishes(self.db) if w.name in names]
                    if any(w.requested != requested for w in mine):
                        break  # a newer request took over: it will report its own outcome
                    if all(w.applied == requested for w in mine):
                        break
                    await asyncio.sleep(TICK)  # the holder may be another process
        except TimeoutError:
            raise Unavailable(
                f"no modeldeck process acted on the proxy request within {ACT_TIMEOUT:g}s "
                "(none holds the supervision lease?)"
            ) from None
        if not self.held:
            await self._refresh()
        return [(w.name, w.outcome) for w in mine if w.outcome is not None]

    # -- loops -----------------------------------------------------------------------------

    async def _renew(self) -> None:
        live = await self.presence.live()
        async with self.db.transaction() as tx:
            holder = await proxy_control.take_lease(tx, LEASE, self.me, time.time(), TTL, live)
        if holder == self.me and not self.held:
            self.held, self.taken_at = True, time.time()
            self._applied = {}  # act on every wish: restart what the last holder ran
            log.info("took the proxy-supervision lease")
            self._wake.set()
        elif holder != self.me and self.held:
            self.held = False
            log.error("lost the proxy-supervision lease to %s: stopping proxies here", holder)
            await self.supervisor.stop()

    async def _renew_loop(self) -> None:
        while True:
            await asyncio.sleep(RENEW)
            try:
                await self._renew()
            except Exception:
                log.exception("could not renew the proxy-supervision lease")

    async def _act_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(TICK):
                    await self._wake.wait()
            self._wake.clear()
            try:
                if self.held:
                    await self._apply()
                else:
                    await self._refresh()
            except Exception:
                log.exception("could not act on proxy requests")

    async def _apply(self) -> list[tuple[str, str]]:
        """As holder: act on every wish not acted on yet; returns the failed starts."""
        failures: list[tuple[str, str]] = []
        async with self._apply_lock:
            for wish in await proxy_control.wishes(self.db):
                if self._applied.get(wish.name) == wish.requested:
                    continue
                outcome: str | None = None
                process = self.supervisor.processes.get(wish.name)
                if process is None:
                    outcome = f"{wish.name} is not configured in the supervising process"
                elif wish.running:
                    failed = await self.supervisor.start(wish.name)
                    outcome = failed[0].message if failed else None
                else:
                    await self.supervisor.stop(wish.name)
                self._applied[wish.name] = wish.requested
                if outcome is not None:
                    failures.append((wish.name, outcome))
                async with self.db.transaction() as tx:
                    await proxy_control.applied(tx, wish.name, wish.requested, outcome)
        return failures

    async def _refresh(self) -> None:
        """As one of the others: re-read the holder's snapshot."""
        stored = await proxy_control.load_snapshot(self.db)
        if stored is None:
            return
        _, body, saved_at = stored
        if self._shared is not None and self._shared[1] == saved_at:
            return
        data = orjson.loads(body)
        processes = {n: ProcessBlock(**b) for n, b in data["processes"].items()}
        self._shared = (ProxySnapshot(data["status"], processes, data["message"]), saved_at)
