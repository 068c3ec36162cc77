"""Pulls as users see them: jobs over REST and sockets, live progress per room.

modeldeck runs with the real app factory and a real SQLite file; Ollama is the
stand-in, a real HTTP server speaking Ollama's NDJSON pull protocol. Tests wait on
events and on the stand-in's state, with timeouts; none sleeps and hopes.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from server.ollama.client import DROPPED_MESSAGE
from server.ollama.pool import RESTART_MESSAGE, SHUTDOWN_MESSAGE
from tests.clients import EventRecorder
from tests.conftest import Running
from tests.ollama_standin import MANIFEST_NOT_FOUND, OllamaStandin
from tests.processes import ServerProcess

TINY = 637_699_456  # tinyllama's weights blob; its other two layers are tiny
TINY_TOTAL = TINY + 98 + 483
FAST = 6_400_000_000  # bytes/s: tinyllama in ~20 lines
SLOW = 1_000_000  # bytes/s: a pull that outlives any test

Connect = Callable[..., Awaitable[EventRecorder]]


class TimedRecorder(EventRecorder):
    """Also notes when each event arrived, to measure rates."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[tuple[float, str]] = []

    async def _record(self, event: str, data: Any = None) -> None:
        self.arrivals.append((time.monotonic(), event))
        await super()._record(event, data)


@pytest.fixture
async def standin() -> AsyncIterator[OllamaStandin]:
    async with OllamaStandin(bytes_per_second=FAST, lines_per_second=200) as server:
        yield server


@pytest.fixture
async def modeldeck(start_server, standin: OllamaStandin) -> Running:
    return await start_server(ollama_url=standin.url)


@pytest.fixture
async def timed() -> AsyncIterator[Callable[[str], Awaitable[TimedRecorder]]]:
    clients: list[TimedRecorder] = []

    async def _connect(url: str) -> TimedRecorder:
        client = TimedRecorder()
        await client.connect(url)
        clients.append(client)
        return client

    yield _connect
    for client in clients:
        await client.close()


async def pull(server: Running, model: str, expect: int = 202) -> dict[str, Any]:
    status, job = await server.api.post("/api/ollama/pulls", {"model": model})
    assert status == expect, job
    return job


async def job_of(server: Running, job_id: str) -> dict[str, Any]:
    status, job = await server.api.get(f"/api/ollama/pulls/{job_id}")
    assert status == 200, job
    return job


async def downloading(standin: OllamaStandin, model: str) -> None:
    """Until the stand-in has moved some of ``model``'s bytes."""
    await standin.wait_for(lambda: standin.partial_bytes(model) > 0, 5)


def pulled_models(standin: OllamaStandin) -> list[str]:
    return [r.body["model"] for r in standin.pull_requests()]


# --- progress ---------------------------------------------------------------------------


async def test_progress_is_coalesced_and_never_goes_backwards(
    modeldeck: Running, standin: OllamaStandin, timed
) -> None:
    standin.bytes_per_second = TINY / 2.5  # ~2.5 s at 200 lines/s: ~500 lines
    client: TimedRecorder = await timed(modeldeck.url)
    assert await client.call("pull:subscribe", {"model": "tinyllama"}) is None

    started = time.monotonic()
    job = await pull(modeldeck, "tinyllama")
    done = await client.next("pull:complete", timeout=15)
    duration = time.monotonic() - started

    progress = client.of("pull:progress")
    assert duration > 2
    lines = TINY / (standin.bytes_per_second / standin.lines_per_second)
    assert lines > 400  # what the stand-in streamed...
    assert 10 <= len(progress) <= duration * 10 + 6  # ...and what reached the client
    times = [t for t, name in client.arrivals if name == "pull:progress"]
    for first in times:  # any one-second window: ~10, plus a few status changes
        assert len([t for t in times if first <= t < first + 1]) <= 16
    completed = [p["completed"] for p in progress]
    percents = [p["percent"] for p in progress]
    assert completed == sorted(completed) and percents == sorted(percents)
    statuses = [p["status"] for p in progress]
    assert statuses[-1] == "completed" and "verifying" in statuses and "downloading" in statuses
    assert all("seq" not in p for p in progress)  # ephemeral: not in the event log
    assert done["id"] == job["id"] and done["percent"] == 100.0
    assert done["completed"] == done["total"] == TINY_TOTAL
    assert done["finishedAt"].endswith("Z")
    mid = [p for p in progress if p["status"] == "downloading" and p["bytesPerSecond"]]
    assert mid and all(p["etaSeconds"] is not None for p in mid)
    average = TINY / duration  # what the stand-in really managed, on this machine
    assert average / 2 < mid[len(mid) // 2]["bytesPerSecond"] < average * 2

    updated = await client.next("ollama:updated")
    assert updated["action"] == "pulled" and updated["model"] == "tinyllama:latest"
    assert "tinyllama:latest" in [m["model"] for m in updated["models"]]
    assert updated["total"] == 2 and isinstance(updated["seq"], int)
    assert client.of("pull:complete") == [done] and client.of("pull:error") == []
    assert (await job_of(modeldeck, job["id"]))["status"] == "completed"


async def test_pull_complete_always_reaches_a_subscriber_before_ollama_updated(
    modeldeck: Running, connect: Connect
) -> None:
    """The contract: the pull's end, then the installed list it changed."""
    models = ["tinyllama:latest", "gemma2:2b", "mistral:7b"]
    client = await connect(modeldeck.url)
    for model in models:
        await client.call("pull:subscribe", {"model": model})
    for model in models:
        await pull(modeldeck, model)
    await client.wait_for("ollama:updated", len(models), timeout=30)

    order = [(name, data["model"]) for name, data in client.events if name in (
        "pull:complete", "pull:error", "ollama:updated")]  # fmt: skip
    for model in models:
        mine = [name for name, of in order if of == model]
        assert mine == ["pull:complete", "ollama:updated"], order


async def test_late_subscriber_gets_the_snapshot_then_live_progress(
    modeldeck: Running, standin: OllamaStandin, connect: Connect
) -> None:
    standin.bytes_per_second = SLOW
    job = await pull(modeldeck, "tinyllama")
    await downloading(standin, "tinyllama")

    late = await connect(modeldeck.url)
    snapshot = await late.call("pull:subscribe", {"model": "TinyLlama:latest"})

    assert snapshot["id"] == job["id"] and snapshot["status"] == "downloading"
    assert snapshot["completed"] > 0 and snapshot["total"] == TINY
    following = await late.next("pull:progress")
    assert following["id"] == job["id"] and following["completed"] >= snapshot["completed"]


async def test_subscribing_to_a_finished_pull_acks_its_last_job(
    modeldeck: Running, connect: Connect
) -> None:
    watcher = await connect(modeldeck.url)
    await watcher.call("pull:subscribe", {"model": "tinyllama"})
    job = await pull(modeldeck, "tinyllama")
    await watcher.next("pull:complete", timeout=10)

    reloaded = await connect(modeldeck.url)
    snapshot = await reloaded.call("pull:subscribe", {"model": "tinyllama"})
    assert snapshot["id"] == job["id"] and snapshot["status"] == "completed"


async def test_unsubscribed_clients_hear_nothing(modeldeck: Running, connect: Connect) -> None:
    leaving, staying = await connect(modeldeck.url), await connect(modeldeck.url)
    for client in (leaving, staying):
        await client.call("pull:subscribe", {"model": "tinyllama"})
    ack = await leaving.call("pull:unsubscribe", {"model": "tinyllama"})
    assert ack == {"model": "tinyllama:latest", "subscribed": False}

    await pull(modeldeck, "tinyllama")
    await staying.next("pull:complete", timeout=10)
    await leaving.call("pull:subscribe", {"model": "other"})  # a round trip: all flushed
    assert not [name for name, _ in leaving.events if name.startswith("pull:")]


# --- one job per model, bounded workers -----------------------------------------------


async def test_two_pulls_of_one_model_share_one_job(
    modeldeck: Running, standin: OllamaStandin, connect: Connect
) -> None:
    standin.bytes_per_second = SLOW
    first = await pull(modeldeck, "tinyllama")
    await standin.wait_for(lambda: standin.open_pulls == 1)

    again = await pull(modeldeck, "tinyllama:latest", expect=200)
    client = await connect(modeldeck.url)
    over_socket = await client.call("pull:start", {"model": "TINYLLAMA"})

    assert again["id"] == over_socket["id"] == first["id"]
    assert pulled_models(standin) == ["tinyllama:latest"]
    # pull:start also joined the room: the starter hears the shared job's progress.
    assert (await client.next("pull:progress"))["id"] == first["id"]


async def test_a_third_model_waits_queued_while_two_workers_are_busy(
    modeldeck: Running, standin: OllamaStandin, connect: Connect
) -> None:
    standin.bytes_per_second = SLOW
    first = await pull(modeldeck, "tinyllama")
    await pull(modeldeck, "gemma2:2b")
    await standin.wait_for(lambda: standin.open_pulls == 2)

    third = await pull(modeldeck, "mistral:7b")
    watcher = await connect(modeldeck.url)
    snapshot = await watcher.call("pull:subscribe", {"model": "mistral:7b"})

    assert third["status"] == "queued" and third["queuePosition"] == 1
    assert snapshot["status"] == "queued" and snapshot["queuePosition"] == 1
    _, listing = await modeldeck.api.get("/api/ollama/pulls?status=queued")
    assert [j["id"] for j in listing["jobs"]] == [third["id"]]
    _, status = await modeldeck.api.get("/api/ollama/status")
    assert status["pulls"] == {"workers": 2, "running": 2, "queued": 1}
    assert "mistral:7b" not in pulled_models(standin)

    # A worker frees up: the queued job starts, in FIFO order.
    await modeldeck.api.delete(f"/api/ollama/pulls/{first['id']}")
    started = await watcher.next("pull:progress", where=lambda p: p["status"] == "downloading")
    assert started["id"] == third["id"] and started["queuePosition"] is None
    await standin.wait_for(lambda: "mistral:7b" in pulled_models(standin))


async def test_queue_positions_are_first_in_first_out(start_server, standin: OllamaStandin) -> None:
    server = await start_server(ollama_url=standin.url, pull_workers=1)
    standin.bytes_per_second = SLOW
    running = await pull(server, "tinyllama")
    second, third = await pull(server, "gemma2:2b"), await pull(server, "mistral:7b")
    assert (second["queuePosition"], third["queuePosition"]) == (1, 2)

    await server.api.delete(f"/api/ollama/pulls/{second['id']}")
    assert (await job_of(server, third["id"]))["queuePosition"] == 1
    await server.api.delete(f"/api/ollama/pulls/{running['id']}")
    await standin.wait_for(lambda: pulled_models(standin) == ["tinyllama:latest", "mistral:7b"])


# --- cancel ------------------------------------------------------------------------------


async def test_cancel_mid_download_closes_the_upstream_pull_and_resumes_later(
    modeldeck: Running, standin: OllamaStandin, connect: Connect
) -> None:
    standin.bytes_per_second = SLOW
    client = await connect(modeldeck.url)
    await client.call("pull:subscribe", {"model": "tinyllama"})
    job = await pull(modeldeck, "tinyllama")
    await downloading(standin, "tinyllama")

    status, cancelled = await modeldeck.api.delete(f"/api/ollama/pulls/{job['id']}")

    assert status == 200 and cancelled["status"] == "cancelled"
    assert cancelled["finishedAt"] is not None
    await standin.wait_for(lambda: standin.open_pulls == 0)
    error = await client.next("pull:error")
    assert error["status"] == "cancelled" and error["message"] == "cancelled"
    status, again = await modeldeck.api.delete(f"/api/ollama/pulls/{job['id']}")
    assert status == 409 and again["error"]["code"] == "conflict"
    assert "already cancelled" in again["error"]["message"]
    kept = standin.partial_bytes("tinyllama")
    assert kept > 0  # Ollama keeps the partial blob

    standin.bytes_per_second = FAST
    resumed = await pull(modeldeck, "tinyllama")
    done = await client.next("pull:complete", timeout=10)
    assert done["id"] == resumed["id"] != job["id"]
    first_line = await client.next("pull:progress", where=lambda p: p["id"] == resumed["id"])
    assert first_line["completed"] == 0 or first_line["completed"] >= kept
    assert len(client.of("pull:error")) == 1 and len(client.of("pull:complete")) == 1


async def test_after_a_cancel_the_installed_list_is_read_again(
    modeldeck: Running, standin: OllamaStandin, connect: Connect
) -> None:
    standin.bytes_per_second = SLOW
    client = await connect(modeldeck.url)
    job = await pull(modeldeck, "tinyllama")
    await downloading(standin, "tinyllama")
    standin.install("tinyllama")  # another Ollama client finished the same model meanwhile

    _, cancelled = await modeldeck.api.delete(f"/api/ollama/pulls/{job['id']}")

    assert cancelled["status"] == "cancelled"
    assert "Ollama had already finished the model" in cancelled["message"]
    updated = await client.next("ollama:updated")
    assert updated["action"] == "pulled" and updated["model"] == "tinyllama:latest"
    assert "tinyllama:latest" in [m["model"] for m in updated["models"]]


async def test_cancel_while_queued(start_server, standin: OllamaStandin, connect) -> None:
    server = await start_server(ollama_url=standin.url, pull_workers=1)
    standin.bytes_per_second = SLOW
    await pull(server, "tinyllama")
    waiting = await pull(server, "gemma2:2b")
    client = await connect(server.url)
    await client.call("pull:subscribe", {"model": "gemma2:2b"})

    status, cancelled = await server.api.delete(f"/api/ollama/pulls/{waiting['id']}")

    assert status == 200 and cancelled["status"] == "cancelled"
    error = await client.next("pull:error")
    assert error["id"] == waiting["id"] and error["status"] == "cancelled"
    assert pulled_models(standin) == ["tinyllama:latest"]  # never reached Ollama
    assert (await job_of(server, waiting["id"]))["status"] == "cancelled"


async def test_cancel_unknown_job_is_404(modeldeck: Running) -> None:
    status, body = await modeldeck.api.delete("/api/ollama/pulls/nope")
    assert status == 404 and body["error"]["message"] == "Pull job 'nope' not found"
    assert (await modeldeck.api.get("/api/ollama/pulls/nope"))[0] == 404


# --- failures ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("knob", "message"),
    [
        ({"fail_at_percent": 50}, "max retries exceeded: unexpected EOF"),
        ({"drop_at_percent": 30}, DROPPED_MESSAGE),
    ],
    ids=["error-line-mid-stream", "dropped-connection"],
)
async def test_a_pull_that_breaks_mid_stream_fails_with_ollamas_message(
    modeldeck: Running, standin: OllamaStandin, connect: Connect, knob, message
) -> None:
    for name, value in knob.items():
        setattr(standin, name, value)
    standin.bytes_per_second = TINY  # one second, ~200 lines
    client = await connect(modeldeck.url)
    await client.call("pull:subscribe", {"model": "tinyllama"})
    job = await pull(modeldeck, "tinyllama")

    error = await client.next("pull:error", timeout=10)

    assert error["id"] == job["id"] and error["status"] == "failed"
    assert error["message"] == error["error"] == message
    assert 0 < error["percent"] < 100
    assert client.of("pull:complete") == []
    stored = await job_of(modeldeck, job["id"])
    assert stored["status"] == "failed" and stored["error"] == message
    await standin.wait_for(lambda: standin.open_pulls == 0)


async def test_an_unknown_model_fails_after_the_manifest(
    modeldeck: Running, connect: Connect
) -> None:
    client = await connect(modeldeck.url)
    await client.call("pull:subscribe", {"model": "no-such-model"})
    job = await pull(modeldeck, "no-such-model")

    error = await client.next("pull:error")

    assert error["id"] == job["id"] and error["status"] == "failed"
    assert error["message"] == MANIFEST_NOT_FOUND
    assert len(client.of("pull:error")) == 1


async def test_an_invalid_name_is_refused_naming_model(
    modeldeck: Running, standin: OllamaStandin, connect: Connect
) -> None:
    status, body = await modeldeck.api.post("/api/ollama/pulls", {"model": "Bad Name!"})
    assert status == 422 and body["error"]["message"].startswith("model: invalid model name")
    status, body = await modeldeck.api.post("/api/ollama/pulls", {})
    assert status == 422 and body["error"]["details"][0]["field"] == "model"

    client = await connect(modeldeck.url)
    ack = await client.call("pull:start", {"model": "-nope"})
    assert ack["error"]["code"] == "validation_error"
    assert ack["error"]["details"] == {"field": "model"}
    ack = await client.call("pull:subscribe", {})
    assert ack["error"]["code"] == "bad_request" and "model" in ack["error"]["message"]
    assert pulled_models(standin) == []


async def test_ollama_down_pulls_answer_503(
    modeldeck: Running, standin: OllamaStandin, connect: Connect
) -> None:
    await standin.stop()

    status, body = await modeldeck.api.post("/api/ollama/pulls", {"model": "tinyllama"})
    assert status == 503
    assert body["error"]["message"].startswith("Ollama is unavailable: cannot reach Ollama at")
    client = await connect(modeldeck.url)
    ack = await client.call("pull:start", {"model": "tinyllama"})
    assert ack["error"]["code"] == "unavailable"
    _, jobs = await modeldeck.api.get("/api/ollama/pulls")
    assert jobs == {"jobs": [], "total": 0}


async def test_ollama_dying_mid_pull_fails_the_job(
    modeldeck: Running, standin: OllamaStandin, connect: Connect
) -> None:
    standin.bytes_per_second = SLOW
    client = await connect(modeldeck.url)
    await client.call("pull:subscribe", {"model": "tinyllama"})
    job = await pull(modeldeck, "tinyllama")
    await downloading(standin, "tinyllama")

    await standin.stop()

    error = await client.next("pull:error")
    assert error["id"] == job["id"] and error["status"] == "failed"
    assert error["message"] == DROPPED_MESSAGE


# --- restarts and shutdown ---------------------------------------------------------------


async def test_shutdown_stops_pulls_and_a_restart_reports_them(
    start_server, standin: OllamaStandin
) -> None:
    standin.bytes_per_second = SLOW
    first = await start_server(ollama_url=standin.url, pull_workers=1)
    running = await pull(first, "tinyllama")
    queued = await pull(first, "gemma2:2b")
    await downloading(standin, "tinyllama")

    started = time.monotonic()
    await first.stop()
    assert time.monotonic() - started < 3  # shutdown_timeout is 1 s in tests
    await standin.wait_for(lambda: standin.open_pulls == 0)

    second = await start_server(ollama_url=standin.url)
    for job in (running, queued):
        stored = await job_of(second, job["id"])
        assert stored["status"] == "failed" and stored["message"] == SHUTDOWN_MESSAGE
    assert pulled_models(standin) == ["tinyllama:latest"]
    resumed = await pull(second, "tinyllama")  # no active job is left behind
    assert resumed["id"] != running["id"]


async def test_a_killed_server_leaves_jobs_that_the_next_start_fails(
    tmp_path: Path, start_server, standin: OllamaStandin, http: aiohttp.ClientSession
) -> None:
    standin.bytes_per_second = SLOW
    db = tmp_path / "killed.db"
    process = ServerProcess(db, "--ollama-url", standin.url)
    try:
        await process.start()
        async with http.post(process.url + "/api/ollama/pulls", json={"model": "tinyllama"}) as r:
            assert r.status == 202
            job = await r.json()
        await downloading(standin, "tinyllama")
    finally:
        await process.kill()  # SIGKILL: no shutdown code runs
    await standin.wait_for(lambda: standin.open_pulls == 0)

    restarted = await start_server(ollama_url=standin.url, db=db)

    stored = await job_of(restarted, job["id"])
    assert stored["status"] == "failed"
    assert stored["message"] == stored["error"] == RESTART_MESSAGE
    assert "restarted" in stored["message"]
