"""Pull jobs when several modeldeck processes share one database: one job per model,
run once, followed from every process, failed when its process dies."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from server.keys import TAILER
from server.ollama.pool import GONE_MESSAGE
from tests.ollama_standin import OllamaStandin
from tests.processes import ServerProcess
from tests.test_pulls import FAST, SLOW, TINY, downloading, job_of, pull, pulled_models


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
    # Later changes of the database make b look at the jobs again; the job's final row
    # is read again too (it is the newest b has seen) and must not be announced twice.
    for n in range(2):
        await a.api.patch("/api/models/sdxl", {"description": f"later {n}"})
        await on_b.wait_for("models:updated", where=lambda d, n=n: f"later {n}" in json.dumps(d))
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
    status, cancelled = await a.api.delete(f"/api/ollama/pulls/{job['id']}")
    assert status == 200 and cancelled["status"] == "cancelled"


async def test_a_cancel_through_another_process_stops_the_pull_where_it_runs(
    start_server, standin: OllamaStandin, connect
) -> None:
    """``DELETE /api/ollama/pulls/{id}`` through a process that does not run the job:
    the owner cancels it (its Ollama stream closes), the asker answers with the final job."""
    standin.bytes_per_second = SLOW
    a = await start_server(ollama_url=standin.url, process_name="a", pull_workers=1)
    b = await start_server(ollama_url=standin.url, process_name="b")
    on_a = await connect(a.url)
    running = await pull(a, "tinyllama")
    queued = await pull(a, "gemma2:2b")  # behind the one worker of a
    await downloading(standin, "tinyllama")
    await on_a.call("pull:subscribe", {"model": "tinyllama"})

    # A job still queued in a, then the running one.
    status, cancelled = await b.api.delete(f"/api/ollama/pulls/{queued['id']}")
    assert status == 200 and cancelled["status"] == "cancelled", cancelled
    assert (await job_of(a, queued["id"]))["status"] == "cancelled"

    status, cancelled = await b.api.delete(f"/api/ollama/pulls/{running['id']}")
    assert status == 200, cancelled
    assert cancelled["id"] == running["id"] and cancelled["status"] == "cancelled"
    ended = await on_a.next("pull:error", timeout=5)  # a's own subscribers hear it too
    assert ended["id"] == running["id"] and ended["status"] == "cancelled"
    await standin.wait_for(lambda: standin.open_pulls == 0, 5)  # the stream was closed
    assert (await job_of(a, running["id"]))["status"] == "cancelled"
    # Cancelling again through either process: it had ended.
    status, refused = await b.api.delete(f"/api/ollama/pulls/{queued['id']}")
    assert status == 409 and refused["error"]["details"]["status"] == "cancelled"


async def test_a_follower_that_writes_first_still_tells_a_pull_end_before_its_commit(
    start_server, standin: OllamaStandin, connect
) -> None:
    """Process b hears of a's last commit of a pull (the job's end and its
    ``ollama:updated``) only when b commits after it and its bus reads the missing seq
    from the log: the job's end still reaches b's subscribers first."""
    standin.bytes_per_second = SLOW
    a = await start_server(ollama_url=standin.url, process_name="a")
    b = await start_server(ollama_url=standin.url, process_name="b")
    on_a, on_b = await connect(a.url), await connect(b.url)
    job = await pull(a, "tinyllama")
    await downloading(standin, "tinyllama")
    assert (await on_b.call("pull:subscribe", {"model": "tinyllama"}))["id"] == job["id"]
    assert (await on_a.call("pull:subscribe", {"model": "tinyllama"}))["id"] == job["id"]

    # b stops looking at the database by itself: it hears of a's commits only by
    # committing after them.
    await b.app[TAILER].stop()
    standin.bytes_per_second = FAST
    await on_a.next("pull:complete", timeout=20)
    await on_a.wait_for("ollama:updated")
    # b's own write: its bus finds a's seqs missing and reads them from the log.
    await b.api.patch("/api/models/sdxl", {"description": "written by b"})
    await on_b.wait_for("models:updated", where=lambda d: "written by b" in json.dumps(d))
    ends = [name for name, _ in on_b.events if name in ("pull:complete", "ollama:updated")]
    assert ends == ["pull:complete", "ollama:updated"]


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


async def test_a_pull_that_begins_and_ends_between_two_looks_is_still_announced(
    start_server, standin: OllamaStandin, connect
) -> None:
    """A pull of a model Ollama does not have fails within milliseconds, possibly
    between two looks of another process at the database: that process's subscribers
    still get its ``pull:error``, once."""
    a = await start_server(ollama_url=standin.url, process_name="a")
    b = await start_server(ollama_url=standin.url, process_name="b")
    on_a, on_b = await connect(a.url), await connect(b.url)
    for client in (on_a, on_b):
        assert await client.call("pull:subscribe", {"model": "no-such-model"}) is None
    tailer = b.app[TAILER]
    await tailer.stop()  # b does not look while the job begins and ends
    job = await pull(a, "no-such-model")
    await on_a.next("pull:error", timeout=10)
    tailer.start()  # b's next look
    failed = await on_b.next("pull:error", timeout=5)
    assert failed["id"] == job["id"] and failed["status"] == "failed"
    assert failed["message"] == (await job_of(a, job["id"]))["message"]
    await b.api.patch("/api/models/sdxl", {"description": "more looks"})  # and again
    await on_b.wait_for("models:updated")
    assert len(on_b.of("pull:error")) == 1
