"""``modeldeck ollama pull``: start a pull job and follow it to its end.

The job's progress comes from its socket room (``pull:subscribe``, then
``pull:progress`` until exactly one ``pull:complete`` or ``pull:error``). The room is
joined *before* the job is requested, so not even the first event of a fast pull is
missed; events of other jobs of the same model (an older one in the snapshot) are
ignored by job id. Should nothing about the job arrive for ``poll_every`` seconds (a
dropped connection, a restarted server), the job is read over REST, so the command
always ends with the job's real final state; modeldeck itself unreachable for a minute
ends it with an error.

Ctrl-C with a terminal asks whether to cancel the job (no: keep following; a second
Ctrl-C at the question leaves the job running). Without a terminal nothing is asked:
the command stops following and says how to cancel the job, which keeps running.

How progress is shown (bar, lines or JSON) is ``server.admin.pull_views``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from typing import Any

from rich.console import Console

from server.admin.client import (
    CONNECTED,
    DISCONNECTED,
    PROBLEM,
    REFUSED,
    AdminClient,
    EventStream,
    ServerError,
    Unreachable,
)
from server.admin.pull_views import Job, PullView, ended, make_view

PULL_EVENTS = ("pull:progress", "pull:complete", "pull:error")
SNAPSHOT = "@snapshot"  # queue marker: the ack of pull:subscribe
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C
SUBSCRIBE_TIMEOUT = 10.0  # seconds for the pull:subscribe ack
GIVE_UP_AFTER = 60.0  # seconds without any answer from modeldeck before failing


class PullFollower:
    """Requests a pull of ``model`` and follows it; :meth:`run` returns the exit code."""

    def __init__(
        self,
        client: AdminClient,
        model: str,
        view: PullView,
        *,
        interactive: bool,
        poll_every: float = 5.0,
    ) -> None:
        self.client = client
        self.model = model
        self.view = view
        self.interactive = interactive
        self.poll_every = poll_every
        self._subscribed = asyncio.Event()
        self._interrupted = asyncio.Event()
        self._away_since: float | None = None
        self._dropped = False

    async def _subscribe(self, stream: EventStream) -> None:
        """On every (re)connect: join the room; the ack is the job as it is now."""
        snapshot = await stream.call("pull:subscribe", {"model": self.model})
        stream.queue.put_nowait((SNAPSHOT, snapshot))
        self._subscribed.set()

    def _on_sigint(self) -> None:
        self._interrupted.set()

    async def run(self) -> int:
        stream = EventStream(self.client.url, self.client.token, on_connect=self._subscribe)
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, self._on_sigint)
        try:
            await stream.connect()
            try:
                await asyncio.wait_for(self._subscribed.wait(), SUBSCRIBE_TIMEOUT)
            except TimeoutError:
                raise Unreachable(
                    f"modeldeck did not answer pull:subscribe within {SUBSCRIBE_TIMEOUT:g}s"
                ) from None
            job, created = await self._request()
            if not created:
                self.view.note(f"{job['model']} is already being pulled; following job {job['id']}")
            return await self._follow(stream, job)
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            self.view.stop()
            await stream.close()

    async def _request(self) -> tuple[Job, bool]:
        """The job: ``(job, True)`` if new (202), the model's running one (200) if not."""
        status, job = await self.client.call("POST", "/api/ollama/pulls", {"model": self.model})
        return job, status == 202

    async def _follow(self, stream: EventStream, job: Job) -> int:
        self.view.show(job)
        heard = time.monotonic()  # when the job last changed
        while not ended(job):
            quiet_for = self.poll_every - (time.monotonic() - heard)
            item = await self._next(stream, timeout=max(quiet_for, 0))
            if item == "interrupt":
                code = await self._interrupt(job)
                if code is not None:
                    return code
                continue
            if item is None:  # nothing about the job for a while: ask the server directly
                job = await self._poll(job)
                heard = time.monotonic()
            elif isinstance(item, tuple):
                update = self._update_from(item, job)
                if update is None:
                    continue
                job, heard = update, time.monotonic()
            self.view.show(job)
        return self._finish(job)

    def _update_from(self, item: tuple[str, Any], job: Job) -> Job | None:
        """The job's new state if ``item`` is about it; connection notes are shown."""
        name, data = item
        if name == DISCONNECTED:
            self._dropped = True
            self.view.note(f"connection lost ({data}); reconnecting")
        elif name == CONNECTED and self._dropped:
            self._dropped = False
            self.view.note("reconnected")
        elif name == PROBLEM:
            self.view.note(f"warning: {data}")
        elif name == REFUSED:
            raise Unreachable(str(data))  # the server will not take this client back
        elif name in (*PULL_EVENTS, SNAPSHOT) and isinstance(data, dict):
            if data.get("id") == job["id"]:
                return data
        return None

    async def _poll(self, job: Job) -> Job:
        """The job over REST; a server away for a while (a restart) is waited for."""
        try:
            fresh: Job = await self.client.get(f"/api/ollama/pulls/{job['id']}")
        except Unreachable as exc:
            now = time.monotonic()
            if self._away_since is None:
                self._away_since = now
                self.view.note(f"{exc.message}; still trying")
            if now - self._away_since > GIVE_UP_AFTER:
                raise
            return job
        self._away_since = None
        return fresh

    async def _next(self, stream: EventStream, timeout: float) -> tuple[str, Any] | str | None:
        """The next queued event, ``"interrupt"`` after Ctrl-C, None after ``timeout``."""
        if self._interrupted.is_set():
            self._interrupted.clear()
            return "interrupt"
        getter = asyncio.ensure_future(stream.queue.get())
        interrupt = asyncio.ensure_future(self._interrupted.wait())
        done, _ = await asyncio.wait(
            {getter, interrupt}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        interrupt.cancel()
        if getter in done:
            return getter.result()
        getter.cancel()
        if interrupt in done:
            self._interrupted.clear()
            return "interrupt"
        return None

    def _finish(self, job: Job, *, code: int | None = None) -> int:
        self.view.final(job)
        if job.get("status") == "completed":
            return 0
        verb = "was cancelled" if job.get("status") == "cancelled" else "failed"
        reason = job.get("error") or job.get("message") or ""
        detail = f": {reason}" if reason and reason != "cancelled" else ""
        print(f"error: pull of {job.get('model')} {verb}{detail}", file=sys.stderr, flush=True)
        return code if code is not None else 1

    def _leave(self, job: Job) -> int:
        self.view.stop()
        print(
            f"interrupted: the pull of {job['model']} goes on in modeldeck (job {job['id']}); "
            f"stop it with: modeldeck ollama cancel {job['id']}",
            file=sys.stderr,
            flush=True,
        )
        return EXIT_INTERRUPTED

    async def _interrupt(self, job: Job) -> int | None:
        """Ctrl-C: ask (with a terminal) whether to cancel; an exit code ends the command."""
        if not self.interactive:
            return self._leave(job)
        self.view.pause()
        answer = await self._ask(
            f"\nCancel the pull of {job['model']}? Pulling again later resumes it. [y/N] "
        )
        if answer is None:  # Ctrl-C again, or stdin closed
            return self._leave(job)
        if answer.strip().lower() not in ("y", "yes"):
            print("Still pulling; Ctrl-C asks again.", flush=True)
            self.view.resume()
            return None
        try:
            final = await self.client.delete(f"/api/ollama/pulls/{job['id']}")
        except ServerError as exc:
            if exc.status != 409:  # 409: it ended meanwhile; report how
                raise
            final = await self.client.get(f"/api/ollama/pulls/{job['id']}")
        ours = final.get("status") == "cancelled"
        return self._finish(final, code=EXIT_INTERRUPTED if ours else None)

    async def _ask(self, question: str) -> str | None:
        """Read one line from the terminal without blocking the event loop.

        Returns None when Ctrl-C is pressed again or stdin ends. No thread: a thread
        stuck in ``input()`` would hold stdin's lock while the interpreter exits.
        """
        print(question, end="", flush=True)
        self._interrupted.clear()
        loop = asyncio.get_running_loop()
        line: asyncio.Future[str | None] = loop.create_future()
        fd = sys.stdin.fileno()
        buffer = bytearray()

        def readable() -> None:
            chunk = os.read(fd, 1024)
            buffer.extend(chunk)
            if not line.done() and (not chunk or b"\n" in buffer):
                line.set_result(buffer.decode(errors="replace") if chunk else None)

        loop.add_reader(fd, readable)
        interrupt = asyncio.ensure_future(self._interrupted.wait())
        try:
            waiting: set[asyncio.Future[Any]] = {line, interrupt}
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:
            loop.remove_reader(fd)
            interrupt.cancel()
        if not line.done():
            self._interrupted.clear()
            print(flush=True)
            return None
        return line.result()


async def pull(client: AdminClient, model: str, *, as_json: bool) -> int:
    """The whole command: request, follow, report; the exit code."""
    console = Console(highlight=False)
    interactive = sys.stdin.isatty() and console.is_terminal
    view = make_view(as_json=as_json, console=console)
    return await PullFollower(client, model, view, interactive=interactive).run()
