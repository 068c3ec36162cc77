"""The secret key as a user meets it: said where it is on first start, and a lost, wrong
or malformed key refused at start-up in one line instead of silently losing secrets."""

from __future__ import annotations

import signal
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from cryptography.fernet import Fernet

from tests.processes import ServerProcess

KEY = "sk-stored-0123456789abcdef"

Serve = Callable[..., Awaitable[ServerProcess]]


@pytest.fixture
async def serve(tmp_path: Path) -> AsyncIterator[Serve]:
    """Start ``python -m server serve`` on one database; every process is killed after."""
    started: list[ServerProcess] = []

    async def start(*args: str, env: dict[str, str] | None = None) -> ServerProcess:
        process = ServerProcess(tmp_path / "deck.db", "--no-seed", *args, env=env)
        started.append(process)
        await process.start()
        return process

    yield start
    for process in started:
        await process.kill()


async def _store_a_secret(process: ServerProcess) -> None:
    async with aiohttp.ClientSession() as http:
        body = {"name": "Remote", "sdkId": "remote", "baseUrl": "https://api.example/v1",
                "apiKey": KEY}  # fmt: skip
        async with http.post(process.url + "/api/providers", json=body) as resp:
            assert resp.status == 201


async def _stop(process: ServerProcess) -> None:
    await process.signal(signal.SIGTERM)
    assert await process.wait(10) == 0


def _error_lines(output: str) -> list[str]:
    """What a refused start wrote besides its INFO start-up line."""
    assert "Traceback" not in output, output
    return [line for line in output.splitlines() if line.strip() and " INFO " not in line]


async def test_first_start_says_where_the_key_is_and_what_losing_it_means(
    serve: Serve, tmp_path: Path
) -> None:
    process = await serve()
    log = process.log.read_text()
    key_file = tmp_path / "deck.db.key"
    assert key_file.exists()
    assert f"generated the secret key {key_file}" in log
    assert "losing it loses every stored secret" in log
    await _stop(process)
    again = await serve()
    assert again.log.read_text().count("generated the secret key") == 1  # not on restarts


async def test_a_lost_key_file_refuses_to_start(serve: Serve, tmp_path: Path) -> None:
    process = await serve()
    await _store_a_secret(process)
    await _stop(process)
    key_file = tmp_path / "deck.db.key"
    key_file.unlink()

    start_of_refusal = process.log.stat().st_size
    with pytest.raises(RuntimeError, match="server exited"):
        await serve()
    output = process.log.read_bytes()[start_of_refusal:].decode()
    assert _error_lines(output) == [
        f"Error: secret key file {key_file} is missing but {tmp_path / 'deck.db'} holds 1 "
        "encrypted secret(s): restore the file or set MODELDECK_SECRET_KEY (a new key "
        "could not decrypt them)"
    ]
    assert not key_file.exists()  # no new key was written over the loss


async def test_a_different_key_refuses_to_start_and_the_right_one_works(
    serve: Serve, tmp_path: Path
) -> None:
    process = await serve()
    await _store_a_secret(process)
    await _stop(process)
    right = (tmp_path / "deck.db.key").read_text().strip()

    for env in ({"MODELDECK_SECRET_KEY": Fernet.generate_key().decode()}, None):
        if env is None:  # a replaced key file
            (tmp_path / "deck.db.key").write_bytes(Fernet.generate_key())
        start_of_refusal = process.log.stat().st_size
        with pytest.raises(RuntimeError, match="server exited"):
            await serve(env=env)
        lines = _error_lines(process.log.read_bytes()[start_of_refusal:].decode())
        assert len(lines) == 1, lines
        assert "is not the key the 1 encrypted secret(s)" in lines[0]

    started = await serve(env={"MODELDECK_SECRET_KEY": right})
    async with aiohttp.ClientSession() as http:
        async with http.get(started.url + "/api/providers/remote") as resp:
            assert (await resp.json())["hasApiKey"] is True


async def test_a_database_from_before_fingerprints_is_checked_by_decrypting(
    serve: Serve, tmp_path: Path
) -> None:
    process = await serve()
    await _store_a_secret(process)
    await _stop(process)
    with sqlite3.connect(tmp_path / "deck.db") as conn:
        conn.execute("DELETE FROM meta WHERE key = 'secret_key_fingerprint'")
    right = (tmp_path / "deck.db.key").read_bytes()
    (tmp_path / "deck.db.key").write_bytes(Fernet.generate_key())
    with pytest.raises(RuntimeError, match="is not the key the 1 encrypted secret"):
        await serve()
    (tmp_path / "deck.db.key").write_bytes(right)
    await _stop(await serve())
    with sqlite3.connect(tmp_path / "deck.db") as conn:
        (stored,) = conn.execute(
            "SELECT value FROM meta WHERE key = 'secret_key_fingerprint'"
        ).fetchone()
    assert len(stored) == 64 and right.decode() not in stored


async def test_without_stored_secrets_a_new_key_is_fine(serve: Serve, tmp_path: Path) -> None:
    await _stop(await serve())
    (tmp_path / "deck.db.key").unlink()
    process = await serve()
    assert process.log.read_text().count("generated the secret key") == 2


async def test_a_malformed_key_is_one_line(serve: Serve, tmp_path: Path) -> None:
    db = tmp_path / "deck.db"
    with pytest.raises(RuntimeError, match="server exited") as refusal:
        await serve(env={"MODELDECK_SECRET_KEY": "not-a-key"})
    output = ServerProcess(db).log.read_text()
    lines = _error_lines(output)
    assert len(lines) == 1 and "Traceback" not in output, refusal.value
    assert "MODELDECK_SECRET_KEY is not a valid key" in lines[0]
    assert "not-a-key" not in output  # the value itself is never echoed

    (tmp_path / "deck.db.key").write_text("garbage")
    start = ServerProcess(db).log.stat().st_size
    with pytest.raises(RuntimeError, match="server exited"):
        await serve()
    lines = _error_lines(ServerProcess(db).log.read_bytes()[start:].decode())
    assert lines == [
        f"Error: secret key from {tmp_path / 'deck.db.key'} is not a valid key "
        "(32 url-safe base64-encoded bytes)"
    ]
