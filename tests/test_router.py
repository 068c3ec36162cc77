"""The router, driven by the official ``openai`` client, in front of a stand-in provider.

modeldeck's server writes the registry (over REST, as an admin would); the router reads
the same SQLite file and forwards to the stand-in, which records what reached it.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
from aiohttp.test_utils import TestServer

from server.router.app import create_router_app
from server.settings import Settings
from tests.conftest import Running, ServerFactory
from tests.openai_standin import REPLY_PREFIX, OpenAIStandin, free_port

UPSTREAM_KEY = "sk-upstream-0123456789abcdef"
CLIENT_KEY = "sk-client-own-key-never-forwarded"
HELLO = [{"role": "user", "content": "hi there"}]

RouterFactory = Callable[..., Awaitable[openai.AsyncOpenAI]]


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    """Wait until ``check()`` holds, re-checking every 20 ms, failing after ``timeout``."""
    async with asyncio.timeout(timeout):
        # The router notices registry changes by polling; there is no event to await.
        while not await check():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


@pytest.fixture
async def standin() -> AsyncIterator[OpenAIStandin]:
    async with OpenAIStandin(api_key=UPSTREAM_KEY) as upstream:
        yield upstream


@pytest.fixture
async def deck(start_server: ServerFactory, standin: OpenAIStandin) -> Running:
    """modeldeck with one provider (the stand-in) and a chat and an embedding model."""
    running = await start_server(no_seed=True)
    writes = [
        ("/api/providers", {"id": "standin", "name": "Standin", "sdkId": "standin",
                            "baseUrl": standin.base_url, "apiKey": UPSTREAM_KEY}),
        ("/api/models", {"id": "chatty", "name": "Chatty", "type": "chat",
                         "providerId": "standin", "sdkId": "standin:chat-model-7b"}),
        ("/api/models", {"id": "embedder", "name": "Embedder", "type": "embedding",
                         "providerId": "standin", "sdkId": "text-embed-small"}),
    ]  # fmt: skip
    for path, body in writes:
        status, reply = await running.api.post(path, body)
        assert status == 201, reply
    return running


@pytest.fixture
async def start_router(deck: Running, db_path: Path) -> AsyncIterator[RouterFactory]:
    """Run the router app over the deck's database; returns an OpenAI client for it."""
    servers: list[TestServer] = []
    clients: list[openai.AsyncOpenAI] = []

    async def start(api_key: str = CLIENT_KEY, **overrides: Any) -> openai.AsyncOpenAI:
        defaults = {"db": db_path, "router_port": 0, "log_level": "WARNING"}
        settings = Settings.model_validate(defaults | overrides)
        server = TestServer(create_router_app(settings), host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        url = str(server.make_url("/v1"))
        client = openai.AsyncOpenAI(base_url=url, api_key=api_key, max_retries=0, timeout=10)
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()
    for server in servers:
        await server.close()


@pytest.fixture
async def client(start_router: RouterFactory) -> openai.AsyncOpenAI:
    return await start_router()


async def test_lists_enabled_models_of_enabled_providers(
    deck: Running, start_router: RouterFactory
) -> None:
    await deck.api.post("/api/models", {"id": "off", "name": "Off", "providerId": "standin",
                                        "sdkId": "off", "enabled": False})  # fmt: skip
    gone = {"id": "gone", "name": "Gone", "sdkId": "gone", "baseUrl": "http://x.test/v1"}
    await deck.api.post("/api/providers", gone | {"enabled": False})
    await deck.api.post("/api/models", {"id": "orphan", "name": "O", "providerId": "gone"})
    await deck.api.post("/api/models", {"id": "loose", "name": "No provider"})
    client = await start_router()

    assert [m.id async for m in client.models.list()] == ["chatty", "embedder"]
    model = await client.models.retrieve("chatty")
    assert (model.object, model.owned_by) == ("model", "standin")
    assert isinstance(model.created, int) and model.created > 1_600_000_000
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve("off")


async def test_a_column_added_to_the_registry_tables_does_not_break_routing(
    deck: Running, start_router: RouterFactory, db_path: Path, standin: OpenAIStandin
) -> None:
    """A later migration may add columns (at the end, as SQLite does): the router names
    the columns it reads, so it keeps routing with the right model and key."""
    with contextlib.closing(sqlite3.connect(db_path)) as conn, conn:
        conn.execute("ALTER TABLE models ADD COLUMN notes TEXT")
        conn.execute("ALTER TABLE providers ADD COLUMN region TEXT")
    client = await start_router()

    assert [m.id async for m in client.models.list()] == ["chatty", "embedder"]
    reply = await client.chat.completions.create(model="chatty", messages=HELLO)  # type: ignore[arg-type]
    assert reply.choices[0].message.content == f"{REPLY_PREFIX} hi there"
    assert standin.requests[-1].body["model"] == "chat-model-7b"
    assert standin.requests[-1].headers["Authorization"] == f"Bearer {UPSTREAM_KEY}"


async def test_chat_reaches_the_provider_with_its_key_and_model_name(
    client: openai.AsyncOpenAI, standin: OpenAIStandin
) -> None:
    reply = await client.chat.completions.create(model="chatty", messages=HELLO)  # type: ignore[arg-type]
    assert reply.choices[0].message.content == f"{REPLY_PREFIX} hi there"
    seen = standin.requests[-1]
    assert seen.path == "/v1/chat/completions"
    assert seen.body["model"] == "chat-model-7b"  # sdkId without "standin:"
    assert seen.body["messages"] == HELLO
    assert seen.headers["Authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert not any(CLIENT_KEY in value for value in seen.headers.values())


async def test_stream_chunks_arrive_before_the_provider_finishes(
    client: openai.AsyncOpenAI, standin: OpenAIStandin
) -> None:
    standin.hold = asyncio.Event()
    stream = await client.chat.completions.create(model="chatty", messages=HELLO, stream=True)  # type: ignore[arg-type]
    assert isinstance(stream, openai.AsyncStream)
    chunks = aiter(stream)
    async with asyncio.timeout(5):
        role = await anext(chunks)
        first_word = await anext(chunks)
    assert role.choices[0].delta.role == "assistant"
    assert first_word.choices[0].delta.content == REPLY_PREFIX
    # The provider is still holding the rest of its answer back.
    assert (standin.open_streams, standin.finished_streams) == (1, 0)
    standin.hold.set()
    rest = [chunk async for chunk in chunks]
    text = REPLY_PREFIX + "".join(c.choices[0].delta.content or "" for c in rest)
    assert text == f"{REPLY_PREFIX} hi there"
    assert rest[-1].choices[0].finish_reason == "stop"
    assert standin.finished_streams == 1


async def test_a_client_that_hangs_up_ends_the_provider_stream(
    client: openai.AsyncOpenAI, standin: OpenAIStandin
) -> None:
    standin.hold = asyncio.Event()  # the provider never gets past its first word
    stream = await client.chat.completions.create(model="chatty", messages=HELLO, stream=True)  # type: ignore[arg-type]
    assert isinstance(stream, openai.AsyncStream)
    chunks = aiter(stream)
    async with asyncio.timeout(5):
        await anext(chunks)
    await stream.close()

    async def provider_released() -> bool:
        return standin.open_streams == 0

    await eventually(provider_released, timeout=5)
    assert (standin.abandoned_streams, standin.finished_streams) == (1, 0)


async def test_a_provider_dying_mid_stream_is_reported_in_the_stream(
    client: openai.AsyncOpenAI, standin: OpenAIStandin
) -> None:
    standin.drop_streams = True
    stream = await client.chat.completions.create(model="chatty", messages=HELLO, stream=True)  # type: ignore[arg-type]
    assert isinstance(stream, openai.AsyncStream)
    received: list[str] = []
    with pytest.raises(openai.APIError) as cut:
        async for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert received == ["", REPLY_PREFIX]  # what arrived before the cut got through
    assert "provider 'standin' at 127.0.0.1 failed" in cut.value.message
    assert cut.value.code == "upstream_interrupted"


async def test_completions_plain_and_streamed(
    client: openai.AsyncOpenAI, standin: OpenAIStandin
) -> None:
    plain = await client.completions.create(model="chatty", prompt="say it")
    assert plain.choices[0].text == f" {REPLY_PREFIX} say it"
    stream = await client.completions.create(model="chatty", prompt="say it", stream=True)
    assert "".join([c.choices[0].text async for c in stream]) == f" {REPLY_PREFIX} say it"
    assert [r.body["model"] for r in standin.requests] == ["chat-model-7b"] * 2


async def test_embeddings_go_to_embedding_models(
    client: openai.AsyncOpenAI, standin: OpenAIStandin
) -> None:
    result = await client.embeddings.create(model="embedder", input=["alpha", "beta"])
    assert [len(item.embedding) for item in result.data] == [8, 8]
    assert result.data[0].embedding != result.data[1].embedding
    assert standin.requests[-1].body["model"] == "text-embed-small"
    encoded = await client.embeddings.create(
        model="embedder", input="alpha", encoding_format="base64"
    )
    assert isinstance(encoded.data[0].embedding, str)  # passed through as the provider sent it

    with pytest.raises(openai.BadRequestError) as wrong:
        await client.embeddings.create(model="chatty", input="alpha")
    assert wrong.value.code == "model_not_supported"


async def test_unknown_or_disabled_model_is_404_and_changes_apply_without_restart(
    deck: Running, client: openai.AsyncOpenAI
) -> None:
    with pytest.raises(openai.NotFoundError) as unknown:
        await client.chat.completions.create(model="nope", messages=HELLO)  # type: ignore[arg-type]
    assert unknown.value.code == "model_not_found" and "nope" in unknown.value.message

    status, _ = await deck.api.patch("/api/models/chatty", {"enabled": False})
    assert status == 200

    async def refused() -> bool:
        try:
            await client.chat.completions.create(model="chatty", messages=HELLO)  # type: ignore[arg-type]
        except openai.NotFoundError:
            return True
        return False

    await eventually(refused, timeout=1)  # within a second, without a restart
    assert [m.id async for m in client.models.list()] == ["embedder"]

    await deck.api.patch("/api/models/chatty", {"enabled": True})
    await deck.api.post("/api/providers/standin/disable")
    await eventually(refused, timeout=2)  # a disabled provider hides its models too


async def test_a_new_key_takes_effect_without_restart(
    deck: Running, client: openai.AsyncOpenAI, standin: OpenAIStandin
) -> None:
    standin.api_key = "sk-rotated-9876543210"
    with pytest.raises(openai.AuthenticationError) as rejected:  # the provider's own 401
        await client.chat.completions.create(model="chatty", messages=HELLO)  # type: ignore[arg-type]
    assert rejected.value.code == "invalid_api_key"

    await deck.api.patch("/api/providers/standin", {"apiKey": "sk-rotated-9876543210"})

    async def accepted() -> bool:
        try:
            await client.chat.completions.create(model="chatty", messages=HELLO)  # type: ignore[arg-type]
        except openai.AuthenticationError:
            return False
        return True

    await eventually(accepted, timeout=2)
    assert standin.requests[-1].headers["Authorization"] == "Bearer sk-rotated-9876543210"


async def test_provider_errors_come_back_with_their_status(
    client: openai.AsyncOpenAI, standin: OpenAIStandin
) -> None:
    standin.fail = (429, "Rate limit reached for requests")
    with pytest.raises(openai.RateLimitError) as limited:
        await client.chat.completions.create(model="chatty", messages=HELLO)  # type: ignore[arg-type]
    assert limited.value.status_code == 429
    assert limited.value.body == {
        "message": "Rate limit reached for requests",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }  # the provider's own error body, unchanged


async def test_missing_key_or_base_url_is_a_clear_error(
    deck: Running, client: openai.AsyncOpenAI
) -> None:
    await deck.api.post("/api/providers", {"id": "remote", "name": "Remote", "sdkId": "remote",
                                           "baseUrl": "https://api.remote.test/v1"})  # fmt: skip
    await deck.api.post("/api/providers", {"id": "nowhere", "name": "Nowhere", "sdkId": "nw"})
    await deck.api.post("/api/models", {"id": "far", "name": "Far", "providerId": "remote"})
    await deck.api.post("/api/models", {"id": "lost", "name": "Lost", "providerId": "nowhere"})

    async def error_of(model: str) -> openai.APIStatusError:
        with pytest.raises(openai.APIStatusError) as caught:
            await client.chat.completions.create(model=model, messages=HELLO)  # type: ignore[arg-type]
        return caught.value

    async def both_routable() -> bool:
        return {m.id async for m in client.models.list()} >= {"far", "lost"}

    await eventually(both_routable, timeout=2)
    missing = await error_of("far")
    assert (missing.status_code, missing.code) == (424, "missing_api_key")
    assert "Provider 'remote' has no apiKey" in missing.message
    unconfigured = await error_of("lost")
    assert (unconfigured.status_code, unconfigured.code) == (424, "provider_not_configured")


async def test_a_local_provider_without_key_gets_no_authorization(
    deck: Running, client: openai.AsyncOpenAI, standin: OpenAIStandin
) -> None:
    await deck.api.post("/api/providers", {"id": "local", "name": "Local", "sdkId": "ollama",
                                           "baseUrl": standin.base_url})  # fmt: skip
    await deck.api.post("/api/models", {"id": "llama", "name": "Llama", "providerId": "local",
                                        "sdkId": "ollama:llama3.2:3b"})  # fmt: skip
    standin.api_key = None

    async def answered() -> bool:
        try:
            await client.chat.completions.create(model="llama", messages=HELLO)  # type: ignore[arg-type]
        except openai.NotFoundError:
            return False
        return True

    await eventually(answered, timeout=2)
    seen = standin.requests[-1]
    assert seen.body["model"] == "llama3.2:3b"
    assert "Authorization" not in seen.headers


async def test_with_a_token_the_router_wants_it_and_keeps_it(
    start_router: RouterFactory, standin: OpenAIStandin
) -> None:
    trusted = await start_router(api_key="deck-token", token="deck-token")
    reply = await trusted.chat.completions.create(model="chatty", messages=HELLO)  # type: ignore[arg-type]
    assert reply.choices[0].message.content
    assert standin.requests[-1].headers["Authorization"] == f"Bearer {UPSTREAM_KEY}"
    stranger = await start_router(api_key="guess", token="deck-token")
    with pytest.raises(openai.AuthenticationError):
        await stranger.models.list()


async def test_request_size_limit(start_router: RouterFactory, standin: OpenAIStandin) -> None:
    small = await start_router(router_max_body_bytes=2048)
    with pytest.raises(openai.APIStatusError) as too_big:
        await small.chat.completions.create(
            model="chatty", messages=[{"role": "user", "content": "x" * 4096}]
        )
    assert too_big.value.status_code == 413
    assert standin.requests == []


async def test_slow_or_unreachable_provider(
    deck: Running, start_router: RouterFactory, standin: OpenAIStandin
) -> None:
    impatient = await start_router(router_timeout=0.3)
    standin.latency = 2.0
    with pytest.raises(openai.InternalServerError) as slow:
        await impatient.chat.completions.create(model="chatty", messages=HELLO)  # type: ignore[arg-type]
    assert (slow.value.status_code, slow.value.code) == (504, "upstream_timeout")

    dead = f"http://127.0.0.1:{free_port()}/v1"
    await deck.api.patch("/api/providers/standin", {"baseUrl": dead})

    async def unreachable() -> bool:
        try:
            await impatient.chat.completions.create(model="chatty", messages=HELLO)  # type: ignore[arg-type]
        except openai.InternalServerError as exc:
            return exc.status_code == 502
        return False

    await eventually(unreachable, timeout=5)


async def test_own_errors_are_openai_shaped(client: openai.AsyncOpenAI) -> None:
    base = str(client.base_url).rstrip("/")
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/nothing", json={}) as response:
            assert response.status == 404
            assert (await response.json())["error"]["code"] == "unknown_url"
        async with session.post(
            f"{base}/chat/completions", data=b"{nope", headers={"Content-Type": "application/json"}
        ) as response:
            assert response.status == 400
            error = (await response.json())["error"]
            assert error["type"] == "invalid_request_error" and "JSON" in error["message"]
        async with session.post(f"{base}/chat/completions", json={"messages": []}) as response:
            assert response.status == 400
            assert (await response.json())["error"]["param"] == "model"
