"""Fixtures: the real app on a real port, a real SQLite file, real socket clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from server.app import create_app
from server.settings import Settings
from tests.clients import Api, EventRecorder

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
