"""The admin CLI end to end: ``python -m server <command>`` against a live server.

Each command runs as a real child process, as a user or a script runs it: stdin closed
or piped (so no prompts and no progress bar), or on a pseudo-terminal where a terminal
is the point (Ctrl-C asking whether to cancel a pull). Commands are written as a user
types them. The server is the real app on a real port (or a real process, for
restarts); Ollama is the stand-in, so pulls stream real NDJSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import pty
import shlex
import signal
import struct
import sys
import termios
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import aiohttp
import click
import pytest
from click.testing import CliRunner

from server.cli import main
from server.ollama.pool import SHUTDOWN_MESSAGE
from tests.children import ROOT, Child
from tests.conftest import Running
from tests.ollama_standin import OllamaStandin
from tests.processes import ServerProcess, free_port

#: The CLI follows pulls over Socket.IO (server/admin/client.py).
pytestmark = pytest.mark.realtime

TOKEN = "cli-secret"
FAST = 6_400_000_000  # bytes/s: tinyllama in a few dozen progress lines
SLOW = 2_000_000  # bytes/s: a pull that outlives any test


def clean_env(url: str | None = None, token: str | None = None, **extra: str) -> dict[str, str]:
    """This environment minus the developer's MODELDECK_*, plus the given URL and token."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELDECK_")}
    if url is not None:
        env["MODELDECK_URL"] = url
    if token is not None:
        env["MODELDECK_TOKEN"] = token
    return env | extra


def argv(command: str) -> list[str]:
    """``modeldeck <command>`` as a child process: the command as a shell splits it."""
    return [sys.executable, "-m", "server", *shlex.split(command)]


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()


async def modeldeck(
    command: str, *, env: dict[str, str], stdin: str | None = None, timeout: float = 20
) -> Result:
    """Run ``modeldeck <command>`` to its end; stdin is closed unless text is given."""
    proc = await asyncio.create_subprocess_exec(
        *argv(command),
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    try:
        out, err = await asyncio.wait_for(
            proc.communicate(stdin.encode() if stdin is not None else None), timeout
        )
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


def one_error_line(result: Result) -> str:
    """A failure is exactly one line on stderr, ``error: ...``, and no traceback."""
    assert result.code != 0, result
    lines = result.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result
    return lines[0]


Cli = Callable[..., Awaitable[Result]]


@pytest.fixture
async def server(start_server) -> Running:
    return await start_server(token=TOKEN)


@pytest.fixture
def cli(server: Running) -> Cli:
    """``modeldeck`` pointed at ``server`` through MODELDECK_URL and MODELDECK_TOKEN."""

    async def run(command: str, stdin: str | None = None) -> Result:
        return await modeldeck(command, env=clean_env(server.url, TOKEN), stdin=stdin)

    return run


@pytest.fixture
async def standin() -> AsyncIterator[OllamaStandin]:
    async with OllamaStandin(bytes_per_second=FAST, lines_per_second=200) as ollama:
        yield ollama


@pytest.fixture
async def with_ollama(start_server, standin: OllamaStandin) -> Running:
    return await start_server(ollama_url=standin.url)


@pytest.fixture
async def spawn() -> AsyncIterator[Callable[..., Awaitable[Child]]]:
    """Start ``modeldeck <command>`` in the background, its lines collected; killed after."""
    started: list[Child] = []

    async def start(command: str, env: dict[str, str]) -> Child:
        child = await Child.start(*argv(command), env=env)
        started.append(child)
        return child

    yield start
    for child in started:
        await child.close()


# -- registry commands --------------------------------------------------------------


async def test_providers_add_with_the_key_from_stdin_list_disable_and_remove(
    cli: Cli, server: Running
) -> None:
    added = await cli(
        "providers add --name 'CI OpenAI' --sdk-id ci-openai "
        "--base-url https://api.example.com/v1 --api-key -",
        stdin="sk-test-abcd1234\n",
    )
    assert added.out == "created provider ci-openai (CI OpenAI, sdk ci-openai, api key sk-…1234)\n"

    listed = await cli("providers ls")
    assert listed.lines[0].split() == ["ID", "NAME", "SDK", "ENABLED", "API", "KEY", "BASE", "URL"]
    row = next(line for line in listed.lines if line.startswith("ci-openai "))
    assert row.split()[-3:] == ["yes", "sk-…1234", "https://api.example.com/v1"]
    assert "sk-test-abcd1234" not in listed.out

    assert (await cli("providers disable ci-openai")).out == "disabled provider ci-openai\n"
    mine = [p for p in json.loads((await cli("providers ls --json")).out) if p["id"] == "ci-openai"]
    assert mine[0]["enabled"] is False and mine[0]["hasApiKey"] is True
    assert (await cli("providers enable ci-openai")).out == "enabled provider ci-openai\n"

    assert (await cli("providers rm ci-openai")).out == "deleted provider ci-openai\n"
    assert (await server.api.get("/api/providers/ci-openai"))[0] == 404


async def test_removing_a_provider_with_models_needs_cascade(cli: Cli, server: Running) -> None:
    line = one_error_line(await cli("providers rm flux"))
    assert "still has 2 model(s)" in line and "modeldeck providers rm flux --cascade" in line
    assert (await server.api.get("/api/providers/flux"))[0] == 200  # nothing deleted

    done = await cli("providers rm flux --cascade")
    assert done.out == "deleted provider flux and its 2 model(s): flux-schnell, flux-pro\n", done


async def test_models_add_list_and_remove(cli: Cli, server: Running) -> None:
    added = await cli(
        "models add --name 'CI chat' --provider google --sdk-id google:ci-chat "
        "--context-length 8192"
    )
    assert added.out == "created model ci-chat (CI chat, chat, provider google)\n", added

    listed = await cli("models ls --type chat --provider google")
    row = next(line for line in listed.lines if line.startswith("ci-chat "))
    assert row.split()[-4:] == ["google", "stopped", "yes", "no"]
    filtered = json.loads((await cli("models ls --type image --json")).out)
    assert {m["type"] for m in filtered} == {"image"}

    assert (await cli("models rm ci-chat")).out == "deleted model ci-chat\n"
    assert (await server.api.get("/api/models/ci-chat"))[0] == 404


async def test_models_default_start_and_stop(cli: Cli, server: Running) -> None:
    assert (await cli("models default sdxl-lightning")).out == (
        "sdxl-lightning is now the default image model\n"
    )
    assert (await cli("models start sdxl-lightning")).out == "model sdxl-lightning: running\n"
    assert (await server.api.get("/api/models/sdxl"))[1]["isDefault"] is False
    assert (await cli("models stop sdxl-lightning")).out == "model sdxl-lightning: stopped\n"


async def test_creds_set_reads_the_token_from_stdin_and_rm_removes_it(
    cli: Cli, server: Running
) -> None:
    done = await cli("creds set qwen --expires-at 4102444800", stdin="qwen-token\n")
    assert done.out == "credentials of qwen set (valid)\n", done
    view = (await server.api.get("/api/credentials/qwen"))[1]
    assert view["hasCredentials"] and view["expiresAt"] == 4102444800

    assert (await cli("creds rm qwen")).out == "deleted credentials of qwen\n"
    assert (await server.api.get("/api/credentials/qwen"))[1]["hasCredentials"] is False


async def test_server_errors_are_one_line_with_a_non_zero_exit(cli: Cli) -> None:
    missing = one_error_line(await cli("models rm no-such-model"))
    assert missing == "error: Model 'no-such-model' not found (HTTP 404 not_found)"

    invalid = one_error_line(await cli("models add --name ' '"))
    assert "name" in invalid and "HTTP 422" in invalid

    empty_key = await cli("providers add --name X --sdk-id x --api-key -", stdin="")
    assert empty_key.code == 2 and "stdin, which was empty" in empty_key.err  # a usage error

    unreachable = await modeldeck("providers ls --url http://127.0.0.1:9", env=clean_env())
    assert "cannot reach modeldeck at http://127.0.0.1:9" in one_error_line(unreachable)


async def test_url_and_token_come_from_flags_on_either_level_or_from_the_env(
    server: Running,
) -> None:
    url = server.url
    no_token = await modeldeck(f"models ls --url {url}", env=clean_env())
    assert "MODELDECK_TOKEN" in one_error_line(no_token)  # 401, and how to fix it

    after = await modeldeck(f"models ls --type image --url {url} --token {TOKEN}", env=clean_env())
    on_group = await modeldeck(
        f"models --url {url} --token {TOKEN} ls --type image", env=clean_env()
    )
    from_env = await modeldeck("models ls --type image", env=clean_env(url, TOKEN))
    assert after.code == on_group.code == from_env.code == 0, (after, on_group, from_env)
    assert after.out == on_group.out == from_env.out
    assert "sdxl" in after.out

    wrong = await modeldeck(f"watch --url {url} --token wrong", env=clean_env())
    assert "unauthorized" in one_error_line(wrong)


def test_every_command_has_help() -> None:
    """``--help`` on every group and command (in-process: there is nothing to talk to)."""
    runner = CliRunner()

    def walk(group: click.Group, path: list[str]) -> list[list[str]]:
        found = [path]
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                found += walk(command, [*path, name])
            else:
                found.append([*path, name])
        return found

    admin = [p for p in walk(main, []) if p and p[0] not in ("serve", "router")]
    assert len(admin) == 27  # 5 groups and watch, 21 commands in the groups
    for path in admin:
        result = runner.invoke(main, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "--url" in result.output and "--token" in result.output, path


async def test_version_names_the_installed_package() -> None:
    result = await modeldeck("--version", env=clean_env())
    assert (result.code, result.out) == (0, f"modeldeck, version {version('modeldeck')}\n")


async def test_a_url_without_a_scheme_means_http(server: Running) -> None:
    bare = server.url.removeprefix("http://")  # 127.0.0.1:PORT, as a user types it
    listed = await modeldeck(f"models ls --type image --url {bare}", env=clean_env(token=TOKEN))
    assert listed.code == 0 and "sdxl" in listed.out, listed

    wrong = await modeldeck("models ls --url ftp://127.0.0.1:3002", env=clean_env())
    assert wrong.code == 2
    assert one_error_line(wrong) == (
        "error: --url 'ftp://127.0.0.1:3002': the scheme must be http or https, not 'ftp'"
    )


async def test_a_url_that_is_not_modeldeck_says_so(standin: OllamaStandin) -> None:
    """Ollama answers HTTP there, but not modeldeck's API: one line that says the URL is off."""
    for command in ("models ls", "proxy status", "watch"):
        result = await modeldeck(f"{command} --url {standin.url}", env=clean_env())
        line = one_error_line(result)
        assert line.startswith(f"error: {standin.url} does not look like modeldeck: "), line
        assert "is --url / MODELDECK_URL right?" in line


async def test_proxy_commands_start_show_tail_and_stop_the_router(
    start_server, tmp_path: Path
) -> None:
    server: Running = await start_server(token=TOKEN, router_port=free_port())
    env = clean_env(server.url, TOKEN)

    started = await modeldeck("proxy start", env=env)
    assert started.code == 0, started
    row = next(line for line in started.lines if line.startswith("providerRouter "))
    _, state, pid, port, _uptime, restarts = row.split()
    assert state == "running" and int(port) == server.settings.router_port and restarts == "0"
    assert started.lines[-1].startswith("proxy running: providerRouter running on port")

    status = json.loads((await modeldeck("proxy status --json", env=env)).out)
    assert status["providerRouter"]["pid"] == int(pid)

    logs = await modeldeck("proxy logs providerRouter --tail 20", env=env)
    assert f"[modeldeck] providerRouter running on port {port} (pid {pid})" in logs.lines, logs

    stopped = await modeldeck("proxy stop providerRouter", env=env)
    assert stopped.code == 0, stopped
    assert next(line for line in stopped.lines if line.startswith("providerRouter ")).split()[
        1:3
    ] == ["stopped", "-"]
    assert (await server.api.get("/api/proxy/status"))[1]["providerRouter"]["pid"] is None

    missing = one_error_line(await modeldeck("proxy logs nothing-here", env=env))
    assert "HTTP 404" in missing


async def test_watch_says_why_when_the_server_refuses_it_after_a_token_change(
    tmp_path: Path, spawn
) -> None:
    proc = ServerProcess(tmp_path / "token.db", "--token", "old-token")
    try:
        await proc.start()
        watch = await spawn("watch --json", clean_env(proc.url, "old-token"))
        await watch.wait_event("proxy:status")
        await proc.signal(signal.SIGTERM)
        assert await proc.wait(10) == 0
        proc = ServerProcess(proc.db, "--token", "new-token", port=proc.port)
        await proc.start()

        assert await watch.wait(timeout=20) == 1
        assert watch.err[-1] == (
            f"error: modeldeck at {proc.url} refused to reconnect: unauthorized: missing or "
            "wrong token (connect with auth: {token}) (its token changed? pass --token or "
            "set MODELDECK_TOKEN)"
        ), watch.transcript()
    finally:
        await proc.kill()


# -- ollama -------------------------------------------------------------------------


async def test_ollama_ls_and_rm(with_ollama: Running) -> None:
    env = clean_env(with_ollama.url)
    listed = await modeldeck("ollama ls", env=env)
    assert listed.lines[0].split() == ["NAME", "SIZE", "PARAMS", "QUANT", "MODIFIED"]
    assert listed.lines[1].split()[:4] == ["llama3:8b", "4.7", "GB", "8.0B"]
    assert listed.lines[-1] == "1 model(s), 4.7 GB"

    assert (await modeldeck("ollama rm llama3:8b", env=env)).out == "deleted llama3:8b\n"
    assert json.loads((await modeldeck("ollama ls --json", env=env)).out)["total"] == 0
    assert "HTTP 404" in one_error_line(await modeldeck("ollama rm llama3:8b", env=env))


async def test_pull_prints_progress_lines_then_the_final_state(with_ollama: Running) -> None:
    result = await modeldeck("ollama pull tinyllama", env=clean_env(with_ollama.url))
    assert result.code == 0, result
    # Nothing else is pulling: no queue position, the job is not waiting behind anything.
    assert not any("position" in line for line in result.lines), result.out
    downloading = [
        line for line in result.lines if line.startswith("tinyllama:latest  downloading")
    ]
    assert any("B/s  ETA " in line for line in downloading), result.out  # speed and ETA
    assert result.lines[-1].startswith("tinyllama:latest: completed (637.7 MB in ")
    assert "\x1b" not in result.out  # no terminal, no escape codes
    jobs = (await with_ollama.api.get("/api/ollama/pulls"))[1]["jobs"]
    assert [j["status"] for j in jobs] == ["completed"]


async def test_pull_json_prints_one_job_per_line(with_ollama: Running) -> None:
    result = await modeldeck("ollama pull gemma2:2b --json", env=clean_env(with_ollama.url))
    assert result.code == 0, result
    jobs = [json.loads(line) for line in result.lines]  # every line, the last one too
    assert jobs[0]["status"] == "queued"
    assert jobs[-1]["status"] == "completed" and jobs[-1]["finishedAt"] is not None
    assert len({job["id"] for job in jobs}) == 1


async def test_a_failed_pull_exits_non_zero_with_ollamas_message(
    with_ollama: Running, standin: OllamaStandin
) -> None:
    standin.fail_at_percent = 40
    env = clean_env(with_ollama.url)
    failed = await modeldeck("ollama pull tinyllama:latest", env=env)
    assert failed.lines[-1] == "tinyllama:latest: failed: max retries exceeded: unexpected EOF"
    line = one_error_line(failed)
    assert line == "error: pull of tinyllama:latest failed: max retries exceeded: unexpected EOF"

    unknown = await modeldeck("ollama pull no-such-model:1b", env=env)
    assert "file does not exist" in one_error_line(unknown)


async def test_pull_with_ollama_down_is_one_error_line(start_server) -> None:
    server: Running = await start_server(ollama_url="http://127.0.0.1:9")
    down = await modeldeck("ollama pull tinyllama", env=clean_env(server.url))
    assert "HTTP 503" in one_error_line(down)


async def test_ctrl_c_without_a_terminal_leaves_the_pull_running(
    with_ollama: Running, standin: OllamaStandin, spawn
) -> None:
    standin.bytes_per_second = SLOW
    env = clean_env(with_ollama.url)
    pull = await spawn("ollama pull mistral:7b", env)
    await pull.wait_line(lambda line: "downloading" in line)
    pull.signal(signal.SIGINT)
    assert await pull.wait() == 130
    assert not any("Cancel" in line for line in pull.out)  # nothing asked
    jobs = (await with_ollama.api.get("/api/ollama/pulls"))[1]["jobs"]
    assert jobs[0]["status"] == "downloading"
    assert pull.err[-1] == (
        f"interrupted: the pull of mistral:7b goes on in modeldeck (job {jobs[0]['id']}); "
        f"stop it with: modeldeck ollama cancel {jobs[0]['id']}"
    )

    cancelled = await modeldeck("ollama cancel mistral:7b", env=env)
    assert cancelled.out == f"cancelled the pull of mistral:7b (job {jobs[0]['id']})\n"


class Terminal:
    """A child on a pseudo-terminal, so that it sees a TTY on stdin, stdout and stderr."""

    def __init__(self, proc: asyncio.subprocess.Process, master: int) -> None:
        self.proc = proc
        self.master = master
        self.output = b""
        self._changed = asyncio.Event()
        self._eof = False
        asyncio.get_running_loop().add_reader(master, self._readable)

    @classmethod
    async def start(cls, command: str, env: dict[str, str]) -> Terminal:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        proc = await asyncio.create_subprocess_exec(
            *argv(command), stdin=slave, stdout=slave, stderr=slave, env=env, cwd=ROOT
        )
        os.close(slave)
        return cls(proc, master)

    def _readable(self) -> None:
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: the child's side is closed
            chunk = b""
        if not chunk:
            self._eof = True
            asyncio.get_running_loop().remove_reader(self.master)
        self.output += chunk
        self._changed.set()

    async def wait_for(self, text: str, *, after: int = 0, timeout: float = 10) -> int:
        """Wait until ``text`` appears past offset ``after``; returns where it ends."""
        needle = text.encode()
        try:
            async with asyncio.timeout(timeout):
                while needle not in self.output[after:] and not self._eof:
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(f"no {text!r} within {timeout}s: {self.output[-800:]!r}") from None
        at = self.output.find(needle, after)
        assert at >= 0, f"ended without {text!r}: {self.output[-800:]!r}"
        return at + len(needle)

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    async def close(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        await self.proc.wait()
        if not self._eof:
            asyncio.get_running_loop().remove_reader(self.master)
        os.close(self.master)


async def test_ctrl_c_on_a_terminal_asks_whether_to_cancel(
    with_ollama: Running, standin: OllamaStandin
) -> None:
    standin.bytes_per_second = SLOW
    term = await Terminal.start("ollama pull mistral:7b", clean_env(with_ollama.url, TERM="xterm"))
    try:
        seen = await term.wait_for("downloading")
        await term.wait_for(" MB/s", after=seen)  # the bar shows the speed
        term.proc.send_signal(signal.SIGINT)
        seen = await term.wait_for("Cancel the pull of mistral:7b?", after=seen)
        term.type("n\n")
        seen = await term.wait_for("Still pulling", after=seen)
        jobs = (await with_ollama.api.get("/api/ollama/pulls"))[1]["jobs"]
        assert jobs[0]["status"] == "downloading"

        term.proc.send_signal(signal.SIGINT)
        seen = await term.wait_for("Cancel the pull", after=seen)
        term.type("y\n")
        await term.wait_for("mistral:7b: cancelled", after=seen)
        assert await asyncio.wait_for(term.proc.wait(), 10) == 130
    finally:
        await term.close()
    jobs = (await with_ollama.api.get("/api/ollama/pulls"))[1]["jobs"]
    assert jobs[0]["status"] == "cancelled"


async def test_a_pull_cut_by_a_server_restart_ends_with_the_jobs_real_state(
    tmp_path: Path, standin: OllamaStandin, spawn
) -> None:
    """The socket drops and the CLI keeps following the job: its real state says failed."""
    standin.bytes_per_second = SLOW
    proc = ServerProcess(tmp_path / "pull.db", "--ollama-url", standin.url)
    try:
        await proc.start()
        pull = await spawn("ollama pull mistral:7b", clean_env(proc.url))
        await pull.wait_line(lambda line: "downloading" in line)
        await proc.signal(signal.SIGTERM)
        assert await proc.wait(10) == 0
        proc = ServerProcess(proc.db, "--ollama-url", standin.url, port=proc.port)
        await proc.start()

        assert await pull.wait() == 1
        assert pull.out[-1] == f"mistral:7b: failed: {SHUTDOWN_MESSAGE}", pull.transcript()
        assert pull.err[-1] == f"error: pull of mistral:7b failed: {SHUTDOWN_MESSAGE}"
        # The server closed the transport (no Socket.IO DISCONNECT), so the client noticed
        # and retried; whether the socket or the REST poll sees the new server first is a
        # race, and either way the job's real state is what the CLI ends with.
        assert any(line.startswith("connection lost") for line in pull.err), pull.transcript()
    finally:
        await proc.kill()


# -- watch --------------------------------------------------------------------------


async def test_watch_json_prints_one_flushed_line_per_event(server: Running, spawn) -> None:
    watch = await spawn("watch --json", clean_env(server.url, TOKEN))
    greeting = await watch.wait_event("proxy:status")
    assert greeting["status"] == "stopped"

    assert (await server.api.post("/api/models", {"name": "Watched", "type": "chat"}))[0] == 201
    created = await watch.wait_event("models:updated")  # flushed: the process still runs
    assert created["action"] == "created" and created["modelId"] == "watched"
    assert [m["id"] for m in created["changed"]] == ["watched"]  # the delta format
    await watch.wait_event("proxy:status", lambda d: d["seq"] > greeting["seq"])

    watch.signal(signal.SIGINT)
    assert await watch.wait() == 0
    records = [json.loads(line) for line in watch.out]
    assert [r["event"] for r in records] == ["proxy:status", "models:updated", "proxy:status"]
    assert all(set(r) == {"event", "data", "receivedAt"} for r in records)


async def test_watch_reads_as_text_and_follows_only_the_chosen_topics(
    server: Running, spawn
) -> None:
    watch = await spawn("watch --topics models,credentials", clean_env(server.url, TOKEN))
    await watch.wait_line(lambda line: line.startswith("connected to"), err=True)

    assert (await server.api.post("/api/providers", {"name": "Unwatched", "sdkId": "u"}))[0] == 201
    assert (await server.api.post("/api/models", {"name": "Watched", "type": "chat"}))[0] == 201
    assert (await server.api.post("/api/credentials/qwen", {"token": "t"}))[0] == 200
    await watch.wait_line(lambda line: "credentials:updated" in line)

    watch.signal(signal.SIGTERM)
    assert await watch.wait() == 0
    assert len(watch.out) == 2, watch.transcript()
    assert watch.out[0].endswith("models:updated       created model watched (8 models)")
    assert watch.out[1].endswith("credentials:updated  updated credentials of qwen (valid)")


async def test_watch_resumes_without_gaps_across_a_server_restart(
    tmp_path: Path, http: aiohttp.ClientSession, spawn
) -> None:
    proc = ServerProcess(tmp_path / "restart.db")
    try:
        await proc.start()
        watch = await spawn("watch --json --topics models", clean_env(proc.url))
        await watch.wait_line(lambda line: line.startswith("connected to"), err=True)

        async def write(i: int) -> None:
            async with http.patch(f"{proc.url}/api/models/sdxl", json={"description": f"{i}"}) as r:
                assert r.status == 200

        def reconnected() -> bool:
            return sum(line.startswith("connected to") for line in watch.err) == 2

        await write(0)
        await watch.wait_event("models:updated")
        await proc.signal(signal.SIGTERM)
        assert await proc.wait(10) == 0
        await watch.wait_line(lambda line: line.startswith("connection lost"), err=True)

        proc = ServerProcess(proc.db, port=proc.port)
        await proc.start()
        await write(1)  # most likely before the watch is back: then it is replayed
        await watch.until(reconnected, timeout=15)
        await write(2)
        await watch.until(lambda: len(watch.events("models:updated")) == 3)

        async with http.get(f"{proc.url}/api/events", params={"since": "0"}) as resp:
            logged = [e["seq"] for e in await resp.json() if e["event"] == "models:updated"]
        received = [d["seq"] for _, d in watch.events("models:updated")]
        assert received == logged, watch.transcript()  # each exactly once, in order
        watch.signal(signal.SIGINT)
        assert await watch.wait() == 0
    finally:
        await proc.kill()
