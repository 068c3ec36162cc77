"""Pull jobs when several modeldeck processes share one database: one job per model,
run once, followed from every process, failed when its process dies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from server.ollama.pool import GONE_MESSAGE
from tests.ollama_standin import OllamaStandin
from tests.processes import ServerProcess
from tests.test_pulls import SLOW, TINY, downloading, job_of, pull, pulled_models


@pytest.fixture
async def standin() -> AsyncIterator[OllamaStandin]:
    async with OllamaStandin(bytes_per_second=300_000_000, lines_per_second=200) as server:
        yield server


async def test_two_requests_through_two_processes_share_one_job_followed_on_both(
    start_server, standin: OllamaStandin, connect
) -> None:
    a = await start_server(ollama_url=standin.url, process_name="a")
    b = await start_server(ollama_url=standin.url, process_name="b")
    on_b = await connect(b.url)
    assert await on_b.call("pull:subscribe", {"model": "tinyllama"}) is None  # none yet

    job = await pull(a, "tinyllama")
    same = await pull(b, "tinyllama", expect=200)
    assert same["id"] == job["id"]

    progress = await on_b.next("pull:progress", where=lambda d: d["completed"] > 0)
    assert progress["id"] == job["id"] and progress["total"] >= TINY
    done = await on_b.next("pull:complete", timeout=20)
    assert done["id"] == job["id"] and done["percent"] == 100
    await on_b.wait_for("ollama:updated")  # through the event log
    ends = [name for name, _ in on_b.events if name in ("pull:complete", "ollama:updated")]
    assert ends == ["pull:complete", "ollama:updated"]  # as on the process that pulled
    assert pulled_models(standin) == ["tinyllama:latest"]  # pulled once, by a
    percents = [d["percent"] for d in on_b.of("pull:progress")]
    assert percents == sorted(percents)
    assert (await job_of(b, job["id"]))["status"] == "completed"


async def test_a_second_process_starting_leaves_the_first_ones_pulls_running(
    start_server, standin: OllamaStandin
) -> None:
    standin.bytes_per_second = SLOW
    a = await start_server(ollama_url=standin.url)
    job = await pull(a, "tinyllama")
    await downloading(standin, "tinyllama")
    b = await start_server(ollama_url=standin.url)
    assert (await job_of(b, job["id"]))["status"] == "downloading"
    assert (await job_of(a, job["id"]))["status"] == "downloading"
    status, refused = await b.api.delete(f"/api/ollama/pulls/{job['id']}")
    assert status == 409 and "cancel it through that process" in refused["error"]["message"]
    status, cancelled = await a.api.delete(f"/api/ollama/pulls/{job['id']}")
    assert status == 200 and cancelled["status"] == "cancelled"


async def test_a_pull_of_a_killed_process_fails_on_the_others(
    tmp_path: Path, start_server, standin: OllamaStandin, connect, http: aiohttp.ClientSession
) -> None:
    standin.bytes_per_second = SLOW
    db = tmp_path / "shared.db"
    doomed = ServerProcess(db, "--ollama-url", standin.url)
    try:
        await doomed.start()
        survivor = await start_server(ollama_url=standin.url, db=db)
        async with http.post(doomed.url + "/api/ollama/pulls", json={"model": "tinyllama"}) as r:
            assert r.status == 202
            job = await r.json()
        await downloading(standin, "tinyllama")
        watcher = await connect(survivor.url)
        snapshot = await watcher.call("pull:subscribe", {"model": "tinyllama"})
        assert snapshot["id"] == job["id"] and snapshot["status"] == "downloading"
    finally:
        await doomed.kill()  # SIGKILL: no shutdown code runs
    failed = await watcher.next("pull:error", timeout=10)  # at the survivor's next beat
    assert failed["id"] == job["id"] and failed["message"] == GONE_MESSAGE
    again = await pull(survivor, "tinyllama")  # the model is not left blocked
    assert again["id"] != job["id"]
