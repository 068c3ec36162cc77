"""The SQLite file: migrations, seeding, restarts, and secrets at rest."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

from cryptography.fernet import Fernet

from storage.schema import available_migrations
from tests.conftest import Running

LATEST = available_migrations()[-1][0]


def _version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA user_version").fetchone()[0]


async def test_fresh_file_ends_at_latest_schema(server: Running) -> None:
    assert _version(server.settings.db) == LATEST
    with sqlite3.connect(server.settings.db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_old_file_is_migrated_keeping_its_rows(db_path: Path, start_server) -> None:
    first_version, _, first_sql = available_migrations()[0]
    with sqlite3.connect(db_path) as conn:
        conn.executescript(first_sql)
        conn.execute(f"PRAGMA user_version = {first_version}")
        conn.execute(
            "INSERT INTO providers (id, name, sdk_id, enabled, created_at, updated_at)"
            " VALUES ('old', 'Old One', 'old', 1, '2026-01-01T00:00:00.000Z',"
            " '2026-01-01T00:00:00.000Z')"
        )
    server: Running = await start_server()
    assert _version(db_path) == LATEST
    status, old = await server.api.get("/api/providers/old")
    assert status == 200 and old["name"] == "Old One"
    with sqlite3.connect(db_path) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert {"pull_jobs", "events", "model_configs", "meta"} <= tables


async def test_seed_is_idempotent_and_never_overwrites(start_server) -> None:
    server: Running = await start_server()
    await server.api.patch("/api/models/sdxl", {"description": "mine now"})
    await server.api.delete("/api/models/flux-pro")
    await server.stop()
    server = await start_server()
    _, models = await server.api.get("/api/models")
    assert len(models) == 6  # the deleted seed model did not come back
    assert (await server.api.get("/api/models/sdxl"))[1]["description"] == "mine now"
    assert len((await server.api.get("/api/providers"))[1]) == 3


async def test_no_seed_starts_empty(start_server) -> None:
    server: Running = await start_server(no_seed=True)
    assert (await server.api.get("/api/models"))[1] == []
    assert (await server.api.get("/v1/models"))[1] == []


async def test_restart_keeps_data_and_seq(start_server, connect) -> None:
    server: Running = await start_server()
    await server.api.post(
        "/api/providers", {"name": "Kept", "sdkId": "kept", "apiKey": "sk-keep-9999"}
    )
    await server.api.post("/api/models", {"name": "Kept Model", "providerId": "kept"})
    await server.stop()
    server = await start_server()
    provider = (await server.api.get("/api/providers/kept"))[1]
    assert provider["hasApiKey"] is True and provider["apiKeyHint"] == "sk-…9999"
    assert (await server.api.get("/api/models/kept-model"))[0] == 200
    client = await connect(server.url)
    assert (await client.next("proxy:status"))["seq"] == 4  # two writes, two events each
    await server.api.post("/api/models/kept-model/start")
    assert (await client.next("models:updated"))["seq"] == 5  # never reused after restart


async def test_secret_key_file_is_private_and_reused(db_path: Path, start_server) -> None:
    server: Running = await start_server()
    await server.api.post("/api/providers", {"name": "K", "sdkId": "k", "apiKey": "sk-private-1"})
    key_file = db_path.with_name(db_path.name + ".key")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_bytes()
    with sqlite3.connect(db_path) as conn:
        stored = conn.execute("SELECT api_key_enc FROM providers WHERE id = 'k'").fetchone()[0]
    assert Fernet(key).decrypt(stored) == b"sk-private-1"
    await server.stop()
    await start_server()
    assert key_file.read_bytes() == key


async def test_secret_key_from_the_environment(db_path: Path, start_server) -> None:
    key = Fernet.generate_key().decode()
    server: Running = await start_server(secret_key=key)
    await server.api.post("/api/providers", {"name": "E", "sdkId": "e", "apiKey": "sk-env-key-1"})
    assert not db_path.with_name(db_path.name + ".key").exists()
    with sqlite3.connect(db_path) as conn:
        stored = conn.execute("SELECT api_key_enc FROM providers WHERE id = 'e'").fetchone()[0]
    assert Fernet(key).decrypt(stored) == b"sk-env-key-1"


async def test_the_event_log_keeps_its_retention_and_at_most_one_percent_more(
    db_path: Path, start_server
) -> None:
    server: Running = await start_server(event_retention=300)
    kept: list[int] = []
    for i in range(400):  # two events a write: the log passes 300 at the 151st
        status, _ = await server.api.patch("/api/models/sdxl", {"description": f"r{i}"})
        assert status == 200
        with sqlite3.connect(db_path) as conn:
            kept.append(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
    assert max(kept) <= 303 and min(kept[150:]) >= 300
    assert len(set(kept[200:])) > 1  # pruned as it goes, a few rows at a time
