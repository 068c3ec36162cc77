"""Proxy processes are real children: started, watched, restarted, stopped, never orphaned."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet

from server.cli import main
from server.settings import Settings
from server.supervisor.config import ProxyConfigError, load_process_specs
from server.supervisor.system import port_answers
from tests.clients import EventRecorder
from tests.conftest import Running, ServerFactory
from tests.openai_standin import OpenAIStandin, free_port
from tests.processes import ServerProcess

#: A small HTTP server that is its own process (no shell), like a real proxy.
HTTP_SERVER = [sys.executable, "-m", "http.server", "{port}", "--bind", "127.0.0.1"]
#: Prints its grandchild's pid, then serves: stopping must take the grandchild too.
FORKING_SERVER = [
    sys.executable, "-c",
    "import subprocess, sys, http.server as h\n"
    "helper = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
    "print('helper', helper.pid, flush=True)\n"
    "h.HTTPServer(('127.0.0.1', int(sys.argv[1])), h.SimpleHTTPRequestHandler).serve_forever()",
    "{port}",
]  # fmt: skip
#: Ignores SIGTERM, so only SIGKILL ends it.
STUBBORN_SERVER = [
    sys.executable, "-c",
    "import signal, sys, http.server as h\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "h.HTTPServer(('127.0.0.1', int(sys.argv[1])), h.SimpleHTTPRequestHandler).serve_forever()",
    "{port}",
]  # fmt: skip


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting for its reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def write_config(tmp_path: Path, processes: dict[str, dict[str, Any]]) -> Path:
    path = tmp_path / "proxies.json"
    path.write_text(json.dumps({"processes": processes}))
    return path


async def wait_gone(pid: int, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while alive(pid):  # noqa: ASYNC110 - a process's end has no event we can await here
            await asyncio.sleep(0.02)


@pytest.fixture
async def proxied(start_server: ServerFactory, tmp_path: Path) -> Running:
    """modeldeck supervising its router and a ``webby`` HTTP server, all on free ports."""
    config = write_config(tmp_path, {
        "webby": {"command": HTTP_SERVER, "port": free_port(), "stopGrace": 2,
                  "restart": {"backoffInitial": 0.05, "maxCrashes": 2, "window": 30}},
    })  # fmt: skip
    return await start_server(router_port=free_port(), proxy_config=config)


def is_status(status: str) -> Any:
    return lambda payload: payload["status"] == status and payload.get("seq", 0) > 0


async def test_blocks_are_present_while_stopped(proxied: Running, connect: Any) -> None:
    client = await connect(proxied.url)
    greeting = await client.next("proxy:status")
    assert greeting["status"] == "stopped"
    for name in ("providerRouter", "webby"):
        assert greeting[name] == {"running": False, "port": greeting[name]["port"], "pid": None,
                                  "uptime": 0.0, "restarts": 0}  # fmt: skip
    assert greeting["providerRouter"]["port"] == proxied.settings.router_port


async def test_start_runs_real_processes_and_stop_ends_them(proxied: Running, connect: Any) -> None:
    client: EventRecorder = await connect(proxied.url)
    status, body = await proxied.api.post("/api/proxy/start")
    assert status == 200, body
    assert body["status"] == "running"
    starting = await client.next("proxy:status", where=lambda s: s["seq"] > 0)
    assert starting["status"] == "starting"
    running = await client.next("proxy:status", where=is_status("running"))
    router, webby = running["providerRouter"], running["webby"]
    assert router["running"] and webby["running"]
    assert isinstance(router["uptime"], float) and router["uptime"] > 0

    # The pid in the block is the very process serving the port.
    router_url = f"http://127.0.0.1:{router['port']}"
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{router_url}/health") as response:
            assert (await response.json())["pid"] == router["pid"]
    async with openai.AsyncOpenAI(base_url=f"{router_url}/v1", api_key="x") as ai:
        assert "gemini-1.5-flash" in [m.id async for m in ai.models.list()]

    again, body = await proxied.api.post("/api/proxy/start")  # idempotent
    assert again == 200 and body["providerRouter"]["pid"] == router["pid"]

    status, body = await proxied.api.post("/api/proxy/stop")
    assert status == 200 and body["status"] == "stopped"
    stopped = await client.next("proxy:status", where=is_status("stopped"))
    assert stopped["providerRouter"]["pid"] is None and stopped["webby"]["pid"] is None
    for block in (router, webby):
        assert not alive(block["pid"])
        assert not await port_answers("127.0.0.1", block["port"])
    assert (await proxied.api.post("/api/proxy/stop"))[0] == 200  # idempotent too


async def test_the_router_shares_the_servers_token_and_secret_key(
    start_server: ServerFactory,
) -> None:
    port = free_port()
    async with OpenAIStandin(api_key="sk-upstream-123456789") as standin:
        server = await start_server(
            router_port=port, token="deck-token", secret_key=Fernet.generate_key().decode(),
            no_seed=True,
        )  # fmt: skip
        provider = {"id": "up", "name": "Up", "sdkId": "up", "baseUrl": standin.base_url,
                    "apiKey": "sk-upstream-123456789"}  # fmt: skip
        assert (await server.api.post("/api/providers", provider))[0] == 201
        assert (await server.api.post("/api/models", {"id": "m", "name": "M", "providerId": "up"}))[
            0
        ] == 201
        assert (await server.api.post("/api/proxy/start"))[0] == 200

        url = f"http://127.0.0.1:{port}/v1"
        async with openai.AsyncOpenAI(base_url=url, api_key="deck-token") as ai:
            reply = await ai.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "ping"}]
            )
        assert reply.choices[0].message.content == "Echo: ping"
        assert standin.requests[-1].headers["Authorization"] == "Bearer sk-upstream-123456789"
        async with openai.AsyncOpenAI(base_url=url, api_key="guess", max_retries=0) as ai:
            with pytest.raises(openai.AuthenticationError):
                await ai.models.list()


async def test_kill_9_shows_partial_at_once_then_restarts(proxied: Running, connect: Any) -> None:
    client: EventRecorder = await connect(proxied.url)
    status, body = await proxied.api.post("/api/proxy/start", params={"name": "webby"})
    assert status == 200 and body["status"] == "partial"  # webby runs, the router does not
    pid = body["webby"]["pid"]
    await client.next("proxy:status", where=lambda s: s["webby"]["running"])

    os.kill(pid, signal.SIGKILL)
    crashed = await client.next(
        "proxy:status", timeout=1.0, where=lambda s: "webby was killed by SIGKILL" in s["message"]
    )
    assert crashed["status"] == "partial" and crashed["webby"]["running"] is False
    assert "restarting in" in crashed["message"]
    back = await client.next("proxy:status", where=lambda s: s["webby"]["running"])
    assert back["status"] == "partial"  # the router was never started
    assert back["webby"]["pid"] != pid and alive(back["webby"]["pid"])
    assert body["webby"]["restarts"] == 0 and back["webby"]["restarts"] == 1
    # A page opened now (or reloaded) learns the count from the greeting.
    later: EventRecorder = await connect(proxied.url)
    assert (await later.next("proxy:status"))["webby"]["restarts"] == 1
    # A start on request begins the count again.
    await proxied.api.post("/api/proxy/stop", params={"name": "webby"})
    _, restarted = await proxied.api.post("/api/proxy/start", params={"name": "webby"})
    assert restarted["webby"]["running"] and restarted["webby"]["restarts"] == 0


async def test_a_process_that_stops_answering_is_restarted(
    start_server: ServerFactory, tmp_path: Path, connect: Any
) -> None:
    port = free_port()
    config = write_config(tmp_path, {
        "hangy": {"command": HTTP_SERVER, "port": port, "stopGrace": 0.5,
                  "healthUrl": f"http://127.0.0.1:{port}/", "healthInterval": 0.2,
                  "healthFailures": 2, "restart": {"backoffInitial": 0.05}},
    })  # fmt: skip
    server: Running = await start_server(router_port=free_port(), proxy_config=config)
    client: EventRecorder = await connect(server.url)
    _, body = await server.api.post("/api/proxy/start", params={"name": "hangy"})
    pid = body["hangy"]["pid"]
    os.kill(pid, signal.SIGSTOP)  # alive, port still accepting, but answering nothing
    try:
        hung = await client.next(
            "proxy:status", timeout=10, where=lambda s: "stopped answering" in s["message"]
        )
        assert hung["hangy"]["running"] is False and "restarting in" in hung["message"]
        back = await client.next(
            "proxy:status", timeout=10,
            where=lambda s: s["hangy"]["running"] and s["seq"] > hung["seq"],
        )  # fmt: skip
        assert back["hangy"]["pid"] != pid and alive(back["hangy"]["pid"])
        await wait_gone(pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


async def test_gives_up_after_too_many_crashes(proxied: Running, connect: Any) -> None:
    client: EventRecorder = await connect(proxied.url)
    _, body = await proxied.api.post("/api/proxy/start", params={"name": "webby"})
    await client.next("proxy:status", where=lambda s: s["webby"]["running"])
    for _ in range(3):  # maxCrashes is 2: the third crash in the window is one too many
        os.kill(body["webby"]["pid"], signal.SIGKILL)
        body = await client.next("proxy:status", where=lambda s: s["webby"]["running"]
                                 or "gave up" in s["message"])  # fmt: skip
    assert "webby was killed by SIGKILL; gave up after 3 crashes within 30s" in body["message"]
    assert body["status"] == "stopped" and body["webby"]["pid"] is None


async def test_a_command_that_exits_at_once_fails_with_its_output(
    start_server: ServerFactory, tmp_path: Path, connect: Any
) -> None:
    config = write_config(tmp_path, {"qwenProxy": {
        "command": [sys.executable, "-c",
                    "import sys; print('error: cannot read /etc/qwen/token'); sys.exit(3)"],
        "port": free_port(),
    }})  # fmt: skip
    server = await start_server(router_port=free_port(), proxy_config=config)
    client: EventRecorder = await connect(server.url)

    status, body = await server.api.post("/api/proxy/start", params={"name": "qwenProxy"})
    assert status == 503
    message = body["error"]["message"]
    assert "qwenProxy failed to start: exited with code 3" in message
    assert "error: cannot read /etc/qwen/token" in message
    assert body["error"]["details"] == {"failed": ["qwenProxy"]}
    event = await client.next("proxy:status", where=lambda s: "failed to start" in s["message"])
    assert event["qwenProxy"] == {"running": False, "port": event["qwenProxy"]["port"],
                                  "pid": None, "uptime": 0.0, "restarts": 0}  # fmt: skip

    status, logs = await server.api.get("/api/proxy/logs/qwenProxy", params={"tail": 50})
    assert status == 200 and "error: cannot read /etc/qwen/token" in logs["lines"]
    assert logs["file"] == str(tmp_path / "modeldeck.db.logs" / "qwenProxy.log")


async def test_a_process_that_never_answers_times_out_and_is_ended(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    sleeper = [sys.executable, "-c", "import os, time; print('pid', os.getpid(), flush=True); "
               "time.sleep(60)"]  # fmt: skip
    config = write_config(tmp_path, {"slow": {"command": sleeper, "port": free_port(),
                                              "startTimeout": 0.5}})  # fmt: skip
    server = await start_server(router_port=free_port(), proxy_config=config)
    status, body = await server.api.post("/api/proxy/start", params={"name": "slow"})
    assert status == 503
    assert "did not answer within 0.5s" in body["error"]["message"]
    _, logs = await server.api.get("/api/proxy/logs/slow")
    pid = int(next(line for line in logs["lines"] if line.startswith("pid ")).split()[1])
    assert not alive(pid)


async def test_a_port_already_taken_fails_the_start(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        config = write_config(tmp_path, {"webby": {"command": HTTP_SERVER, "port": port}})
        server = await start_server(router_port=free_port(), proxy_config=config)
        status, body = await server.api.post("/api/proxy/start", params={"name": "webby"})
    assert status == 503
    assert f"port {port} is already in use" in body["error"]["message"]


async def test_stop_kills_what_ignores_sigterm(start_server: ServerFactory, tmp_path: Path) -> None:
    stubborn = {"command": STUBBORN_SERVER, "port": free_port(), "stopGrace": 0.3}
    config = write_config(tmp_path, {"stubborn": stubborn})
    server = await start_server(router_port=free_port(), proxy_config=config)
    _, body = await server.api.post("/api/proxy/start", params={"name": "stubborn"})
    pid = body["stubborn"]["pid"]
    started = time.monotonic()
    status, _ = await server.api.post("/api/proxy/stop", params={"name": "stubborn"})
    assert status == 200 and not alive(pid)
    assert time.monotonic() - started < 3
    _, logs = await server.api.get("/api/proxy/logs/stubborn", params={"tail": 3})
    assert any("SIGKILL" in line for line in logs["lines"])


async def test_logs_and_unknown_process(proxied: Running) -> None:
    await proxied.api.post("/api/proxy/start", params={"name": "providerRouter"})
    status, logs = await proxied.api.get("/api/proxy/logs/providerRouter", params={"tail": 2})
    assert status == 200 and len(logs["lines"]) == 2
    assert logs["lines"][-1].startswith("[modeldeck] providerRouter running on port")
    status, body = await proxied.api.get("/api/proxy/logs/nope")
    assert status == 404 and "configured: providerRouter, webby" in body["error"]["message"]
    assert (await proxied.api.post("/api/proxy/start", params={"name": "nope"}))[0] == 404
    assert (await proxied.api.get("/api/proxy/logs/webby", params={"tail": 0}))[0] == 422


def test_config_file_changes_the_router_and_adds_processes(tmp_path: Path) -> None:
    config = tmp_path / "proxies.toml"
    config.write_text(
        "[processes.providerRouter]\nport = 4011\n"
        "[processes.qwenProxy]\n"
        'command = "node qwen-proxy.js --port {port}"\nport = 4012\n'
        'healthUrl = "http://127.0.0.1:{port}/health"\n'
        "restart = { maxCrashes = 3, backoff_max = 5 }\n"
    )
    router, qwen = load_process_specs(
        Settings.model_validate({"db": tmp_path / "d.db", "proxy_config": config})
    )
    assert (router.name, router.port, router.argv[-1]) == ("providerRouter", 4011, "4011")
    assert router.argv[1:4] == ["-m", "server", "router"]
    assert qwen.argv == ["node", "qwen-proxy.js", "--port", "4012"]
    assert qwen.health == "http://127.0.0.1:4012/health"
    assert (qwen.restart.max_crashes, qwen.restart.backoff_max) == (3, 5)
    assert qwen.environment["PORT"] == "4012"

    config.write_text('{"processes": {"providerRouter": {"enabled": false}}}')
    config = config.rename(tmp_path / "proxies.json")
    assert (
        load_process_specs(
            Settings.model_validate({"db": tmp_path / "d.db", "proxy_config": config})
        )
        == []
    )


def test_a_bad_config_is_refused_naming_the_field(tmp_path: Path) -> None:
    config = tmp_path / "proxies.json"
    config.write_text('{"processes": {"qwenProxy": {"command": ["node"], "port": "x"}}}')
    with pytest.raises(ProxyConfigError, match="proxy process 'qwenProxy': port"):
        load_process_specs(
            Settings.model_validate({"db": tmp_path / "d.db", "proxy_config": config})
        )
    result = CliRunner().invoke(
        main, ["serve", "--db", str(tmp_path / "d.db"), "--proxy-config", str(config)]
    )
    assert result.exit_code == 2 and "proxy process 'qwenProxy': port" in result.output


# -- a real `modeldeck serve` process --------------------------------------------------


ServeFactory = Callable[[], Awaitable[ServerProcess]]


@pytest.fixture
async def serve(tmp_path: Path) -> AsyncIterator[ServeFactory]:
    """Start ``python -m server serve`` (the same db and proxies each time) with its router
    and a forking proxy started at launch; every process started is killed after."""
    config = tmp_path / "proxies.toml"
    config.write_text(
        f"[processes.forky]\ncommand = {json.dumps(FORKING_SERVER)}\nport = {free_port()}\n"
    )
    started: list[ServerProcess] = []

    async def start() -> ServerProcess:
        server = ServerProcess(
            tmp_path / "deck.db", "--router-port", str(free_port()),
            "--proxy-config", str(config), "--proxy-autostart",
        )  # fmt: skip
        started.append(server)
        await server.start()
        return server

    yield start
    for server in started:
        await server.stop()  # SIGTERM: a SIGKILLed server leaves its proxy children running


async def running_status(session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    """Wait until every supervised process of the server at ``url`` is running."""

    async def status() -> dict[str, Any] | None:
        try:
            async with session.get(f"{url}/api/proxy/status") as response:
                return await response.json()  # type: ignore[no-any-return]
        except aiohttp.ClientConnectionError:
            return None

    async with asyncio.timeout(20):
        while (body := await status()) is None or body["status"] != "running":  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    return body


async def test_server_shutdown_leaves_no_process_behind(serve: ServeFactory, connect: Any) -> None:
    server = await serve()
    proc, url = server.proc, server.url
    assert proc is not None
    async with aiohttp.ClientSession() as session:
        body = await running_status(session, url)
        async with session.get(f"{url}/api/proxy/logs/forky") as response:
            lines = (await response.json())["lines"]
    helper = int(next(line for line in lines if line.startswith("helper ")).split()[1])
    pids = [body["providerRouter"]["pid"], body["forky"]["pid"], helper]
    assert all(alive(pid) for pid in pids)
    await connect(url)  # a connected dashboard must not slow the shutdown down

    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    async with asyncio.timeout(10):
        assert await proc.wait() == 0
    assert time.monotonic() - started < 5
    for pid in pids:
        await wait_gone(pid, timeout=2)


async def test_after_a_kill_9_the_router_exits_and_the_next_start_ends_leftovers(
    serve: ServeFactory,
) -> None:
    first = await serve()
    async with aiohttp.ClientSession() as session:
        body = await running_status(session, first.url)
    router, forky = body["providerRouter"]["pid"], body["forky"]["pid"]
    await first.kill()  # SIGKILL: the server's shutdown code never runs
    await wait_gone(router, timeout=5)  # the built-in router noticed its parent was gone
    assert alive(forky)  # a third-party command lives on in its own session, on its port
    try:
        again = await serve()
        async with aiohttp.ClientSession() as session:
            body = await running_status(session, again.url)
        await wait_gone(forky, timeout=2)  # the new server ended the leftover first
        assert body["forky"]["pid"] != forky
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(forky, signal.SIGKILL)
