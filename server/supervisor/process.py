"""One supervised child process: start, readiness, crash restarts with backoff, stop.

Lifecycle (``ProcessState``)::

    stopped ──start──▶ starting ──port/health answers──▶ running
                          │                                 │ exits by itself
                          ▼ exits / times out               ▼
                        failed ◀──more than N crashes── crashed ──backoff──▶ starting

A task per started process (``_supervise``) owns the child while it should be up;
``stop`` cancels that task and then ends the child itself, so the only thing a
cancellation can interrupt is waiting. The child is exec'd directly in a new session
(its own process group): its pid is the process that serves the port, and stopping
signals the whole group so helpers it forked go too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import signal
import time
from collections import deque
from collections.abc import Awaitable, Callable
from enum import StrEnum

import aiohttp

from events.payloads import ProcessBlock
from server.supervisor.config import ProcessSpec
from server.supervisor.logs import NOTE_PREFIX, ProcessLog
from server.supervisor.system import (
    PROBE_TIMEOUT,
    describe_exit,
    end_leftover,
    forget_child,
    port_answers,
    record_child,
    signal_group,
)

log = logging.getLogger("modeldeck.supervisor")

Notify = Callable[[], Awaitable[None]]
PROBE_INTERVAL = 0.05
DRAIN_TIMEOUT = 2.0
FAILURE_LINES = 20
STARTED_NOTE = f"{NOTE_PREFIX}started pid "


class ProcessState(StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    CRASHED = "crashed"  # exited on its own; a restart is scheduled
    FAILED = "failed"  # a start failed, or restarts gave up; down until started again


class ManagedProcess:
    """Supervises one ``ProcessSpec``. Single event loop; ``start``/``stop`` may be
    called concurrently (they serialise on a lock)."""

    def __init__(
        self, spec: ProcessSpec, output: ProcessLog, http: Callable[[], aiohttp.ClientSession],
        notify: Notify,
    ) -> None:  # fmt: skip
        self.spec = spec
        self.output = output
        self.state = ProcessState.STOPPED
        self.message = f"{spec.name} stopped"
        self._http = http
        self._notify_cb = notify
        self._proc: asyncio.subprocess.Process | None = None
        self._spawning: asyncio.Task[asyncio.subprocess.Process] | None = None
        self._pump: asyncio.Task[None] | None = None
        self._started_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self._settled = asyncio.Event()
        self._lock = asyncio.Lock()
        self._crashes: deque[float] = deque()
        self._restarts = 0  # after crashes, since the last start on request
        self._pidfile = output.path.with_suffix(".pid")

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.returncode is None else None

    def block(self) -> ProcessBlock:
        alive = self.pid is not None
        uptime = round(time.monotonic() - self._started_at, 3) if alive else 0.0
        return ProcessBlock(
            running=self.state is ProcessState.RUNNING, port=self.spec.port, pid=self.pid,
            uptime=uptime, restarts=self._restarts,
        )  # fmt: skip

    # -- control -------------------------------------------------------------------

    async def start(self) -> None:
        """Start unless already supervised; returns once running or the start failed."""
        async with self._lock:
            if self._task is None or self._task.done():
                self._crashes.clear()
                self._restarts = 0
                self._settled = asyncio.Event()
                self._task = asyncio.create_task(self._supervise(), name=f"proxy {self.spec.name}")
            settled = self._settled
        await settled.wait()

    async def stop(self) -> None:
        """SIGTERM the process group, SIGKILL after ``stop_grace``; no-op when stopped."""
        async with self._lock:
            task, self._task = self._task, None
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if self._spawning is not None and not self._spawning.done():
                with contextlib.suppress(Exception):
                    await self._spawning  # a child spawned as we cancelled is ours to end
            if self._proc is not None:
                await self._terminate(self._proc)
            if self.state is not ProcessState.STOPPED:
                self._set(ProcessState.STOPPED, f"{self.spec.name} stopped")
                await self._notify()

    # -- the supervising task --------------------------------------------------------

    async def _supervise(self) -> None:
        first = True
        try:
            while True:
                failure = await self._launch()
                if failure is None:
                    self._settled.set()
                    proc = self._proc
                    assert proc is not None
                    failure = await self._watch(proc)
                elif first:
                    self._fail(f"failed to start: {failure}")
                    await self._notify()
                    return
                first = False
                if not await self._crashed(failure):
                    return
                self._restarts += 1
        except Exception as exc:  # a bug here must not leave a child unwatched and unsaid
            log.exception("supervising %s failed", self.spec.name)
            if self._proc is not None:
                await self._terminate(self._proc)
            self._fail(f"supervision failed: {exc!r}")
            await self._notify()
        finally:
            self._settled.set()

    async def _watch(self, proc: asyncio.subprocess.Process) -> str:
        """Wait while the child runs, re-probing it; why it stopped running.

        An exited child is a crash; so is one that stops answering (a deadlock, a
        SIGSTOP, a full disk) for ``health_failures`` probes in a row: it is ended and
        goes through the same restart policy, instead of showing ``running`` forever.
        """
        spec = self.spec
        exited = asyncio.ensure_future(proc.wait())
        misses = 0
        try:
            while True:
                done, _ = await asyncio.wait({exited}, timeout=spec.health_interval or None)
                if done:
                    break
                if await self._probe():
                    misses = 0
                    continue
                misses += 1
                if misses >= spec.health_failures:
                    what = spec.health or f"port {spec.port}"
                    self.output.note(f"{what} did not answer {misses} checks in a row")
                    await self._terminate(proc)
                    return f"stopped answering ({what} failed {misses} checks in a row)"
        finally:
            exited.cancel()
        await self._reap(proc)
        return describe_exit(proc.returncode)

    async def _crashed(self, failure: str) -> bool:
        """Count a crash; wait out the backoff and return True, or give up and return False."""
        policy = self.spec.restart
        now = time.monotonic()
        self._crashes.append(now)
        while self._crashes and self._crashes[0] < now - policy.window:
            self._crashes.popleft()
        crashes = len(self._crashes)
        if not policy.enabled or crashes > policy.max_crashes:
            why = "restart is off" if not policy.enabled else (
                f"gave up after {crashes} crashes within {policy.window:g}s"
            )  # fmt: skip
            self._fail(f"{failure}; {why}")
            await self._notify()
            return False
        delay = policy.delay(crashes)
        limit = f"at most {policy.max_crashes} within {policy.window:g}s"
        message = (
            f"{self.spec.name} {failure}; restarting in {delay:.1f}s (crash {crashes}, {limit})"
        )
        self._set(ProcessState.CRASHED, message)
        self.output.note(self.message)
        await self._notify()
        await asyncio.sleep(delay)
        return True

    async def _launch(self) -> str | None:
        """Spawn the child and wait until it answers; ``None`` on success, else why not."""
        spec = self.spec
        leftover = await end_leftover(self._pidfile, spec.stop_grace)
        if leftover is not None:
            self.output.note(leftover)
        if await port_answers(spec.host, spec.port):
            return f"port {spec.port} is already in use by another process"
        self._set(ProcessState.STARTING, f"{spec.name} starting on port {spec.port}")
        # Shielded: if stop() cancels us mid-spawn, the spawn still completes and
        # stop() finds the child in self._proc instead of leaving it orphaned.
        self._spawning = asyncio.ensure_future(self._spawn())
        try:
            proc = await asyncio.shield(self._spawning)
        except OSError as exc:
            return f"cannot run {spec.argv[0]!r}: {exc.strerror or exc}"
        self.output.note(f"started pid {proc.pid}: {shlex.join(spec.argv)}")  # see STARTED_NOTE
        await self._notify()
        not_ready = await self._wait_ready(proc)
        if not_ready is None:
            self._set(ProcessState.RUNNING, f"{spec.name} running on port {spec.port} "
                      f"(pid {proc.pid})")  # fmt: skip
            self.output.note(self.message)
            await self._notify()
            return None
        await self._terminate(proc)
        return not_ready

    async def _spawn(self) -> asyncio.subprocess.Process:
        spec = self.spec
        proc = await asyncio.create_subprocess_exec(
            *spec.argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            cwd=spec.cwd,
            env=os.environ | spec.environment,
        )
        self._proc, self._started_at = proc, time.monotonic()
        record_child(self._pidfile, proc.pid)
        assert proc.stdout is not None
        self._pump = asyncio.create_task(self.output.pump(proc.stdout))
        return proc

    async def _wait_ready(self, proc: asyncio.subprocess.Process) -> str | None:
        """Probe until the port (or health URL) answers, the child exits, or time runs out."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.spec.start_timeout
        exited = asyncio.ensure_future(proc.wait())
        try:
            while (remaining := deadline - loop.time()) > 0:
                probe = asyncio.ensure_future(self._probe())
                await asyncio.wait(
                    {exited, probe}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
                if exited.done():
                    probe.cancel()
                    return describe_exit(proc.returncode)
                if not probe.done():
                    probe.cancel()
                    break
                if probe.result():
                    return None
                await asyncio.wait({exited}, timeout=min(PROBE_INTERVAL, remaining))
            what = self.spec.health or f"port {self.spec.port}"
            return f"{what} did not answer within {self.spec.start_timeout:g}s"
        finally:
            exited.cancel()

    async def _probe(self) -> bool:
        url = self.spec.health
        if url is None:
            return await port_answers(self.spec.host, self.spec.port)
        try:
            timeout = aiohttp.ClientTimeout(total=PROBE_TIMEOUT)
            async with self._http().get(url, timeout=timeout) as response:
                return 200 <= response.status < 300
        except (aiohttp.ClientError, TimeoutError):
            return False

    # -- ending a child --------------------------------------------------------------

    async def _terminate(self, proc: asyncio.subprocess.Process) -> None:
        if proc.returncode is None:
            self.output.note(f"stopping pid {proc.pid} (SIGTERM)")
            signal_group(proc.pid, signal.SIGTERM)
            try:
                async with asyncio.timeout(self.spec.stop_grace):
                    await proc.wait()
            except TimeoutError:
                self.output.note(
                    f"pid {proc.pid} still up after {self.spec.stop_grace:g}s: SIGKILL"
                )
                signal_group(proc.pid, signal.SIGKILL)
                await proc.wait()
            self.output.note(f"pid {proc.pid} {describe_exit(proc.returncode)}")
        await self._reap(proc)

    async def _reap(self, proc: asyncio.subprocess.Process) -> None:
        """Kill what the child left in its group, then read its output to the end.

        Called right after the child exits and never again for it: once the group is
        empty its id may be reused, and a later signal could hit someone else's group.
        """
        if self._proc is proc:
            self._proc = None
        signal_group(proc.pid, signal.SIGKILL)
        forget_child(self._pidfile)
        pump, self._pump = self._pump, None
        if pump is not None:
            try:
                async with asyncio.timeout(DRAIN_TIMEOUT):
                    await pump
            except TimeoutError:
                pump.cancel()

    # -- state -----------------------------------------------------------------------

    def _set(self, state: ProcessState, message: str) -> None:
        self.state, self.message = state, message

    def _fail(self, reason: str) -> None:
        last = "\n".join(self._last_run_output()[-FAILURE_LINES:]) or "(no output)"
        self._set(ProcessState.FAILED, f"{self.spec.name} {reason}. Last output:\n{last}")
        self.output.note(f"{self.spec.name} {reason}")

    def _last_run_output(self) -> list[str]:
        """What the latest child wrote (not earlier runs, not our own notes)."""
        lines: list[str] = []
        for line in reversed(self.output.tail()):
            if line.startswith(STARTED_NOTE):
                break
            if not line.startswith(NOTE_PREFIX):
                lines.append(line)
        return lines[::-1]

    async def _notify(self) -> None:
        try:
            await self._notify_cb()
        except Exception:  # a lost broadcast must not stop supervision
            log.exception("could not publish proxy status for %s", self.spec.name)
