"""Fixtures: the real app on a real port, a real SQLite file, real socket clients.

Session-wide rules live here too: in CI (``CI=true``) a test that needs a missing
tool (Node, Chromium) fails instead of being skipped, a run that leaves a process
behind fails, naming it (the leftovers are killed first), and every test that opens a
Socket.IO connection is marked ``realtime``: ``scripts/test`` runs those a second time
on the stock delivery path (``MODELDECK_FAST_PATH=0``).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from server.app import create_app
from server.settings import Settings
from tests.browser import Browser, open_browser
from tests.clients import Api, EventRecorder
from tests.leftovers import MARKER, end_leftovers, mark_run

ServerFactory = Callable[..., Awaitable["Running"]]


class Running:
    """A started modeldeck server and what a test needs to talk to it."""

    def __init__(self, server: TestServer, settings: Settings, session: aiohttp.ClientSession):
        self.server = server
        self.settings = settings
        self.url = str(server.make_url("")).rstrip("/")
        token = settings.token.get_secret_value() if settings.token else None
        self.api = Api(session, self.url, token)

    @property
    def app(self) -> Any:
        return self.server.app

    async def stop(self) -> None:
        await self.server.close()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "modeldeck.db"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def start_server(db_path: Path, http: aiohttp.ClientSession) -> AsyncIterator[ServerFactory]:
    """Start modeldeck with the real factory; every server started is stopped after."""
    started: list[Running] = []

    async def start(**overrides: Any) -> Running:
        settings = Settings(
            **{"db": db_path, "port": 0, "shutdown_timeout": 1.0, "log_level": "WARNING"}
            | overrides
        )
        server = TestServer(create_app(settings), host="127.0.0.1", port=overrides.get("port"))
        await server.start_server()
        running = Running(server, settings, http)
        started.append(running)
        return running

    yield start
    for running in reversed(started):
        await running.stop()


@pytest.fixture
async def server(start_server: ServerFactory) -> Running:
    return await start_server()


@pytest.fixture
async def connect() -> AsyncIterator[Callable[..., Awaitable[EventRecorder]]]:
    """Connect python-socketio clients that record every event; all closed after."""
    clients: list[EventRecorder] = []

    async def _connect(url: str, **kwargs: Any) -> EventRecorder:
        recorder = EventRecorder()
        await recorder.connect(url, **kwargs)
        clients.append(recorder)
        return recorder

    yield _connect
    for client in clients:
        await client.close()


# -- session-wide rules -------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "missing_tool(reason): a tool the test needs is absent (see tests/children.py)"
    )


#: In an xdist worker, the token of the run that started it (None elsewhere).
CONTROLLER_TOKEN = pytest.StashKey[str | None]()


def _worker_reports(token: str) -> Path:
    """Where xdist workers leave the names of their leftovers for the controller."""
    return Path(tempfile.gettempdir()) / f"modeldeck-leftovers-{token}"


def pytest_sessionstart(session: pytest.Session) -> None:
    worker = hasattr(session.config, "workerinput")  # set by xdist in its workers only
    session.config.stash[CONTROLLER_TOKEN] = os.environ.get(MARKER) if worker else None
    mark_run()  # every process this run starts inherits the token


#: Fixtures that open Socket.IO connections, and what a module that opens them itself
#: (raw websockets, Node or browser clients, child servers it connects to) mentions.
SOCKET_FIXTURES = frozenset({"connect", "browser", "page", "watcher"})
OPENS_SOCKETS = re.compile(
    r"EventRecorder|ws_connect|/socket\.io/|socket\.io-client|open_browser|needs_browser"
    r"|RawSocket|import socketio"
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``realtime`` every test that opens a Socket.IO connection: the stock-path
    pass runs exactly those, so a new test of that kind is never left out of it."""
    module_opens: dict[Path, bool] = {}
    for item in items:
        path = item.path
        if path not in module_opens:
            module_opens[path] = bool(OPENS_SOCKETS.search(path.read_text()))
        if module_opens[path] or SOCKET_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.realtime)


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("missing_tool"):
        pytest.fail(f"{mark.args[0]}; with CI=true that fails the run", pytrace=False)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail a run that leaves processes behind, naming them; they are killed first.

    An xdist worker ends its own leftovers and leaves their names for the controller,
    which fails the run (a worker's exit status does not reach it).
    """
    ended = end_leftovers(os.environ[MARKER])
    controller = session.config.stash.get(CONTROLLER_TOKEN, None)
    if controller is not None:
        if ended:
            folder = _worker_reports(controller)
            folder.mkdir(exist_ok=True)
            (folder / f"{os.getpid()}.txt").write_text("\n".join(ended))
        return
    folder = _worker_reports(os.environ[MARKER])
    if folder.is_dir():
        for report in sorted(folder.glob("*.txt")):
            ended += report.read_text().splitlines()
        shutil.rmtree(folder, ignore_errors=True)
    if not ended:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    text = "the test run left these processes running (now killed):\n" + "\n".join(
        f"  {line}" for line in ended
    )
    if reporter is not None:
        reporter.write_sep("=", "processes left behind", red=True)
        reporter.write_line(text)
    else:
        print(text)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Chromium behind ``browser_check.mjs`` (the interop, restart and drive-by tests)."""
    async with open_browser("browser_check.mjs", Browser) as chromium:
        yield chromium
