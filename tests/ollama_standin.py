"""A real HTTP server that speaks Ollama's REST protocol, for tests and local runs.

It answers the routes modeldeck uses (``/``, ``/api/version``, ``/api/tags``,
``/api/show``, ``/api/pull``, ``/api/delete``) with the same status codes, headers,
JSON field order and NDJSON progress lines as Ollama's own server
(``server/routes.go``, ``server/images.go``, ``server/download.go``), so code under
test talks to it exactly as it would talk to a real Ollama. Nothing is downloaded:
a pull advances byte counters on a clock.

Knobs (constructor keyword arguments, also plain attributes a test may change while
the server runs):

- ``catalog``: pullable models, name -> :class:`ModelSpec` (layer sizes + ``/api/show``
  metadata). By default every tag of modeldeck's own catalog (synthetic 32 MiB
  weights, so a pull is quick) plus four models with real layer sizes
  (:func:`real_models`); ``--help`` lists them. ``installed``: names installed at
  start (default ``llama3:8b``).
- ``bytes_per_second`` and ``lines_per_second``: pull speed and progress cadence.
  Ollama reports every 60 ms (~16 lines/s); a test may ask for hundreds per second.
- ``fail_at_percent`` / ``fail_message``: once a pull's overall progress reaches the
  percentage, an ``{"error": fail_message}`` line ends the stream.
- ``drop_at_percent``: once reached, the TCP connection is aborted mid-stream (no
  error line, no chunked terminator), like a crashed or killed Ollama.
- ``first_byte_delay``: seconds every request waits before its response headers.
- Down: ``await standin.stop()`` refuses connections; ``await standin.start()`` comes
  back on the same port with the same installed models and partial downloads.

What it saw: ``requests`` (a list of :class:`RecordedRequest`), ``open_pulls`` (pull
requests still being answered) and :meth:`OllamaStandin.wait_for` to wait on any of
it with a timeout instead of sleeping.

Partial downloads survive a pull whose client went away, so the next pull of the
same model resumes from the bytes already "downloaded", as Ollama's partial blobs do.
Concurrent pulls of one layer share its progress; only one of them advances it.

Run alone: ``python -m tests.ollama_standin --port 11434``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import signal
import textwrap
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, NamedTuple, Self

from aiohttp import web

DEFAULT_HOST = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
OLLAMA_VERSION = "0.12.0"
MANIFEST_NOT_FOUND = "pull model manifest: file does not exist"
INVALID_MODEL_NAME = "invalid model name"
NDJSON = "application/x-ndjson"
GIN_JSON = "application/json; charset=utf-8"


class RecordedRequest(NamedTuple):
    """One request as the stand-in received it; compares equal to a plain tuple."""

    method: str
    path: str
    body: Any


@dataclass
class ModelSpec:
    """A model the stand-in can serve: its blob layers and what ``/api/show`` says.

    ``layers`` are blob sizes in bytes in manifest order (model weights first, the
    config blob last), which is also the order Ollama pulls them in.
    """

    layers: list[int]
    family: str
    parameter_size: str
    quantization_level: str
    model_info: dict[str, Any]
    template: str = "{{ .Prompt }}"
    parameters: str = ""
    license: str = ""
    capabilities: list[str] = field(default_factory=lambda: ["completion"])
    format: str = "gguf"


def _gguf_info(
    arch: str,
    *,
    params: int,
    context: int,
    blocks: int,
    embedding: int,
    heads: int,
    heads_kv: int,
    vocab: int,
    **extra: Any,
) -> dict[str, Any]:
    """The ``model_info`` keys Ollama copies out of a GGUF header."""
    info: dict[str, Any] = {
        "general.architecture": arch,
        "general.file_type": 2,
        "general.parameter_count": params,
        "general.quantization_version": 2,
        f"{arch}.attention.head_count": heads,
        f"{arch}.attention.head_count_kv": heads_kv,
        f"{arch}.attention.layer_norm_rms_epsilon": 0.00001,
        f"{arch}.block_count": blocks,
        f"{arch}.context_length": context,
        f"{arch}.embedding_length": embedding,
        f"{arch}.vocab_size": vocab,
        "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.tokens": [],
    }
    info.update({f"{arch}.{key}": value for key, value in extra.items()})
    return info


#: Weights blob of a model made up from modeldeck's catalog: big enough to show
#: progress, small enough that pulling it takes a fraction of a second by default.
SYNTHETIC_WEIGHTS = 32 * 1024 * 1024

#: (up to this many parameters, blocks, embedding length, heads, KV heads): llama-style
#: shapes near those of real models of that size, so VRAM estimates look plausible.
_SHAPES = [
    (1_000_000_000, 24, 896, 14, 2),
    (2_000_000_000, 16, 2048, 32, 8),
    (4_500_000_000, 28, 3072, 24, 8),
    (10_000_000_000, 32, 4096, 32, 8),
    (20_000_000_000, 40, 5120, 40, 8),
    (40_000_000_000, 60, 6656, 52, 8),
    (100_000_000_000, 80, 8192, 64, 8),
    (10**13, 126, 16384, 128, 8),
]


def _parameters(text: str) -> int:
    """``3B`` -> 3_000_000_000, ``137M`` -> 137_000_000."""
    scale = {"K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}[text[-1].upper()]
    return int(float(text[:-1]) * scale)


def _synthetic_spec(family: str, category: str, parameter_size: str) -> ModelSpec:
    """A model of the given size: real-looking metadata, small synthetic blobs."""
    params = _parameters(parameter_size)
    _, blocks, embedding, heads, heads_kv = next(s for s in _SHAPES if params <= s[0])
    context = 2048 if category == "embedding" else 8192
    capabilities = {"embedding": ["embedding"], "vision": ["completion", "vision"]}
    return ModelSpec(
        layers=[SYNTHETIC_WEIGHTS, 1_481, 96, 487],
        family=family,
        parameter_size=parameter_size,
        quantization_level="Q4_K_M",
        model_info=_gguf_info(
            "llama",
            params=params,
            context=context,
            blocks=blocks,
            embedding=embedding,
            heads=heads,
            heads_kv=heads_kv,
            vocab=128_256,
        ),
        capabilities=capabilities.get(category, ["completion"]),
    )


def catalog_models() -> dict[str, ModelSpec]:
    """Every tag of modeldeck's Ollama catalog (``server/data/ollama_catalog.json``)."""
    from server.ollama.catalog import load_catalog

    specs: dict[str, ModelSpec] = {}
    for model in load_catalog().models:
        named = [t for t in model.tags if t != "latest"]  # in the order of parameter_sizes
        sizes = dict(zip(named, model.parameter_sizes, strict=False))
        family = model.name.split(".")[0].rstrip("0123456789") or model.name
        for tag in model.tags:
            if tag == "latest":
                size = sizes.get(model.latest_tag or "") or model.parameter_sizes[0]
            else:
                size = sizes.get(tag) or model.parameter_sizes[-1]
            specs[f"{model.name}:{tag}"] = _synthetic_spec(family, model.category, size)
    return specs


def default_catalog() -> dict[str, ModelSpec]:
    """What the stand-in can pull: every catalog model (synthetic blobs of
    ``SYNTHETIC_WEIGHTS``), plus four with real layer sizes that tests rely on."""
    return catalog_models() | real_models()


def real_models() -> dict[str, ModelSpec]:
    """Models with real architectures and layer sizes (progress tests depend on them)."""
    llama3_template = (
        "{{ if .System }}<|start_header_id|>system<|end_header_id|>\n\n"
        "{{ .System }}<|eot_id|>{{ end }}<|start_header_id|>user<|end_header_id|>\n\n"
        "{{ .Prompt }}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    return {
        "llama3:8b": ModelSpec(
            layers=[4_661_211_424, 12_403, 254, 110, 485],
            family="llama",
            parameter_size="8.0B",
            quantization_level="Q4_0",
            model_info=_gguf_info(
                "llama",
                params=8_030_261_248,
                context=8192,
                blocks=32,
                embedding=4096,
                heads=32,
                heads_kv=8,
                vocab=128_256,
                feed_forward_length=14_336,
            ),
            template=llama3_template,
            parameters=f'{"num_keep":<30} 24\n{"stop":<30} "<|eot_id|>"',
            license="META LLAMA 3 COMMUNITY LICENSE AGREEMENT",
        ),
        "tinyllama:latest": ModelSpec(
            layers=[637_699_456, 98, 483],
            family="llama",
            parameter_size="1B",
            quantization_level="Q4_0",
            model_info=_gguf_info(
                "llama",
                params=1_100_048_384,
                context=2048,
                blocks=22,
                embedding=2048,
                heads=32,
                heads_kv=4,
                vocab=32_000,
            ),
            template="<|system|>\n{{ .System }}</s>\n<|user|>\n{{ .Prompt }}</s>\n<|assistant|>\n",
        ),
        "gemma2:2b": ModelSpec(
            layers=[1_629_509_152, 358, 8_433, 65, 487],
            family="gemma2",
            parameter_size="2.6B",
            quantization_level="Q4_0",
            model_info=_gguf_info(
                "gemma2",
                params=2_614_341_888,
                context=8192,
                blocks=26,
                embedding=2304,
                heads=8,
                heads_kv=4,
                vocab=256_000,
                **{"attention.key_length": 256, "attention.value_length": 256},
            ),
        ),
        "mistral:7b": ModelSpec(
            layers=[4_113_289_824, 801, 11_357, 30, 485],
            family="llama",
            parameter_size="7.2B",
            quantization_level="Q4_0",
            model_info=_gguf_info(
                "llama",
                params=7_248_023_552,
                context=32_768,
                blocks=32,
                embedding=4096,
                heads=32,
                heads_kv=8,
                vocab=32_768,
            ),
        ),
    }


# --- model names, as Ollama parses them (types/model/name.go) -----------------------


def _valid_part(kind: str, part: str) -> bool:
    limit = 350 if kind == "host" else 80
    if not 1 <= len(part) <= limit:
        return False
    if not (part[0].isascii() and (part[0].isalnum() or part[0] == "_")):
        return False
    for char in part[1:]:
        if char in "_-":
            continue
        if char == "." and kind != "namespace":
            continue
        if char == ":" and kind == "host":
            continue
        if not (char.isascii() and (char.isalnum() or char == "_")):
            return False
    return True


def parse_model_name(raw: str) -> str | None:
    """Return Ollama's short display form (``llama3.2:latest``), or None if invalid."""
    rest, tag = raw, "latest"
    if rest.rfind(":") > rest.rfind("/"):
        rest, _, tag = rest.rpartition(":")
    _scheme, sep, after = rest.partition("://")
    if sep:
        rest = after
    pieces = rest.split("/")
    if len(pieces) > 3:
        return None
    host = pieces[-3] if len(pieces) == 3 else DEFAULT_HOST
    namespace = pieces[-2] if len(pieces) >= 2 else DEFAULT_NAMESPACE
    model = pieces[-1]
    parts = {"host": host, "namespace": namespace, "model": model, "tag": tag}
    if not all(_valid_part(kind, part) for kind, part in parts.items()):
        return None
    if host.lower() != DEFAULT_HOST:
        return f"{host}/{namespace}/{model}:{tag}"
    if namespace.lower() != DEFAULT_NAMESPACE:
        return f"{namespace}/{model}:{tag}"
    return f"{model}:{tag}"


# --- wire encoding, as Go's encoding/json and gin write it ----------------------------


def go_json(value: Any) -> bytes:
    """Encode like Go's ``encoding/json``: compact, UTF-8, HTML characters escaped."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escape)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()


def go_time(moment: datetime) -> str:
    """RFC 3339 with trailing fractional zeros trimmed, like Go's ``time.Time``."""
    text = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


def gin_json(value: Any, status: int = 200) -> web.Response:
    return web.Response(body=go_json(value), status=status, headers={"Content-Type": GIN_JSON})


def _error(message: str, status: int) -> web.Response:
    return gin_json({"error": message}, status)


# --- state -----------------------------------------------------------------------------


@dataclass
class _Installed:
    name: str
    spec: ModelSpec
    digests: list[str]
    modified_at: datetime


@dataclass
class _Partial:
    """A blob being downloaded; ``driver`` is the pull that advances it."""

    total: int
    completed: int = 0
    driver: object | None = None


class _Drop:
    """Marker yielded by the pull generator: abort the connection here."""


_DROP = _Drop()
_Event = dict[str, Any] | _Drop


def _layer_digests(name: str, spec: ModelSpec) -> list[str]:
    return [
        "sha256:" + hashlib.sha256(f"{name}#{index}#{size}".encode()).hexdigest()
        for index, size in enumerate(spec.layers)
    ]


class OllamaStandin:
    """Ollama's REST API on a real port. Not thread-safe: use it from one event loop."""

    def __init__(
        self,
        *,
        catalog: dict[str, ModelSpec] | None = None,
        installed: Iterable[str] = ("llama3:8b",),
        bytes_per_second: float = 200 * 1024 * 1024,
        lines_per_second: float = 1 / 0.06,
        fail_at_percent: float | None = None,
        fail_message: str = "max retries exceeded: unexpected EOF",
        drop_at_percent: float | None = None,
        first_byte_delay: float = 0.0,
        version: str = OLLAMA_VERSION,
    ) -> None:
        self.catalog: dict[str, ModelSpec] = catalog if catalog is not None else default_catalog()
        self.bytes_per_second = bytes_per_second
        self.lines_per_second = lines_per_second
        self.fail_at_percent = fail_at_percent
        self.fail_message = fail_message
        self.drop_at_percent = drop_at_percent
        self.first_byte_delay = first_byte_delay
        self.version = version
        self.requests: list[RecordedRequest] = []
        self._installed: dict[str, _Installed] = {}
        self._blobs: set[str] = set()
        self._partials: dict[str, _Partial] = {}
        self._open_pulls = 0
        self._pull_transports: set[asyncio.Transport] = set()
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._host = "127.0.0.1"
        self._port = 0
        for name in installed:
            self.install(name)

    # -- lifecycle --

    async def start(self, host: str | None = None, port: int | None = None) -> None:
        """Listen; with no port given, reuse the previous one (or pick a free one)."""
        if self._runner is not None:
            raise RuntimeError("the Ollama stand-in is already running")
        self._host = host or self._host
        port = self._port if port is None else port
        app = web.Application(middlewares=[self._record])
        app.router.add_get("/", self._root)
        app.router.add_get("/api/version", self._version)
        app.router.add_get("/api/tags", self._tags)
        app.router.add_post("/api/show", self._show)
        app.router.add_post("/api/pull", self._pull)
        app.router.add_delete("/api/delete", self._delete)
        # handler_cancellation: a client hanging up ends its pull handler at once,
        # which is how Ollama notices a cancelled pull (the request context ends).
        runner = web.AppRunner(
            app, handler_cancellation=True, shutdown_timeout=0.5, access_log=None
        )
        await runner.setup()
        site = web.TCPSite(runner, self._host, port, reuse_address=True)
        await site.start()
        self._runner = runner
        self._port = runner.addresses[0][1]

    async def stop(self) -> None:
        """Stop listening and cut open pulls, as if the Ollama process died."""
        if self._runner is None:
            return
        runner, self._runner = self._runner, None
        for transport in list(self._pull_transports):
            transport.abort()
        await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def port(self) -> int:
        return self._port

    # -- what tests look at --

    @property
    def open_pulls(self) -> int:
        """Pull requests whose response is still being written."""
        return self._open_pulls

    @property
    def installed_names(self) -> list[str]:
        return sorted(model.name for model in self._installed.values())

    def pull_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == "/api/pull"]

    def partial_bytes(self, name: str) -> int:
        """Bytes of ``name``'s blobs on "disk", complete or partial."""
        key = parse_model_name(name)
        spec = self._spec_for(key) if key else None
        if key is None or spec is None:
            return 0
        return self._progress_bytes(_layer_digests(key, spec), spec.layers)

    async def wait_for(self, predicate: Callable[[], bool], seconds: float = 5.0) -> None:
        """Wait until ``predicate()`` holds, re-checking whenever the state changes.

        Raises ``TimeoutError`` after ``seconds``.
        """
        async with asyncio.timeout(seconds):
            while not predicate():
                event = self._changed
                await event.wait()

    def install(self, name: str) -> None:
        """Make a catalog model installed at once, as if pulled earlier."""
        key = parse_model_name(name)
        spec = self._spec_for(key) if key else None
        if key is None or spec is None:
            raise KeyError(f"{name!r} is not in the stand-in's catalog")
        digests = _layer_digests(key, spec)
        self._installed[key.lower()] = _Installed(key, spec, digests, datetime.now(UTC))
        self._blobs.update(digests)
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _spec_for(self, key: str) -> ModelSpec | None:
        for name, spec in self.catalog.items():
            if (parse_model_name(name) or name).lower() == key.lower():
                return spec
        return None

    # -- middleware --

    @web.middleware
    async def _record(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        raw = await request.read()
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")
        self.requests.append(RecordedRequest(request.method, request.path, body))
        self._notify()
        if self.first_byte_delay > 0:
            await asyncio.sleep(self.first_byte_delay)
        return await handler(request)

    # -- handlers --

    async def _root(self, request: web.Request) -> web.Response:
        return web.Response(text="Ollama is running", content_type="text/plain", charset="utf-8")

    async def _version(self, request: web.Request) -> web.Response:
        return gin_json({"version": self.version})

    async def _tags(self, request: web.Request) -> web.Response:
        models = sorted(self._installed.values(), key=lambda m: m.modified_at, reverse=True)
        return gin_json({"models": [self._list_entry(model) for model in models]})

    def _details(self, spec: ModelSpec) -> dict[str, Any]:
        return {
            "parent_model": "",
            "format": spec.format,
            "family": spec.family,
            "families": [spec.family],
            "parameter_size": spec.parameter_size,
            "quantization_level": spec.quantization_level,
        }

    def _list_entry(self, model: _Installed) -> dict[str, Any]:
        manifest = hashlib.sha256("".join(model.digests).encode()).hexdigest()
        return {
            "name": model.name,
            "model": model.name,
            "modified_at": go_time(model.modified_at),
            "size": sum(model.spec.layers),
            "digest": manifest,
            "details": self._details(model.spec),
        }

    async def _body(self, request: web.Request) -> dict[str, Any] | web.Response:
        raw = await request.read()
        if not raw.strip():
            return _error("missing request body", 400)
        try:
            body = json.loads(raw)
        except ValueError:
            return _error("invalid character looking for beginning of value", 400)
        if not isinstance(body, dict):
            return _error("json: cannot unmarshal into Go value of type api.Request", 400)
        for key in ("model", "name"):
            if key in body and not isinstance(body[key], str):
                message = f"json: cannot unmarshal into Go struct field .{key} of type string"
                return _error(message, 400)
        return body

    async def _show(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        raw = body.get("model") or body.get("name") or ""
        if not raw:
            return _error("model is required", 400)
        key = parse_model_name(raw)
        if key is None:
            return _error(INVALID_MODEL_NAME, 400)
        model = self._installed.get(key.lower())
        if model is None:
            return _error(f"model '{raw}' not found", 404)
        spec = model.spec
        params = "\n".join(f"PARAMETER {line}" for line in spec.parameters.splitlines())
        modelfile = (
            '# Modelfile generated by "ollama show"\n'
            "# To build a new Modelfile based on this, replace FROM with:\n"
            f"# FROM {model.name}\n\n"
            f"FROM /root/.ollama/models/blobs/{model.digests[0].replace(':', '-')}\n"
            f'TEMPLATE """{spec.template}"""\n{params}\n'
        )
        return gin_json(
            {
                "license": spec.license,
                "modelfile": modelfile,
                "parameters": spec.parameters,
                "template": spec.template,
                "details": self._details(spec),
                "model_info": dict(sorted(spec.model_info.items())),
                "capabilities": spec.capabilities,
                "modified_at": go_time(model.modified_at),
            }
        )

    async def _delete(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        raw = body.get("model") or body.get("name") or ""
        key = parse_model_name(raw)
        if key is None:
            return _error(f"name {json.dumps(raw)} is invalid", 400)
        model = self._installed.pop(key.lower(), None)
        if model is None:
            return _error(f"model '{raw}' not found", 404)
        self._prune(model.digests)
        self._notify()
        # Ollama writes nothing on success: 200 with an empty body.
        return web.Response(status=200)

    def _prune(self, digests: Iterable[str]) -> None:
        """Remove blobs no installed model references any more."""
        in_use = {d for model in self._installed.values() for d in model.digests}
        self._blobs.difference_update(set(digests) - in_use)

    async def _pull(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        key = parse_model_name(body.get("model") or body.get("name") or "")
        if key is None:
            return _error(INVALID_MODEL_NAME, 400)
        transport = request.transport
        self._open_pulls += 1
        if transport is not None:
            self._pull_transports.add(transport)
        self._notify()
        try:
            if body.get("stream") is False:
                return await self._pull_whole(request, key)
            return await self._pull_stream(request, key)
        finally:
            self._open_pulls -= 1
            if transport is not None:
                self._pull_transports.discard(transport)
            self._notify()

    async def _pull_whole(self, request: web.Request, key: str) -> web.StreamResponse:
        """``stream: false``: the last status, or the error with HTTP 500 (waitForStream)."""
        last: dict[str, Any] = {}
        async with contextlib.aclosing(self._pull_events(key)) as events:
            async for event in events:
                if isinstance(event, _Drop):
                    return self._abort(request)
                if "error" in event:
                    return _error(event["error"], 500)
                last = event
        return gin_json(last)

    async def _pull_stream(self, request: web.Request, key: str) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": NDJSON})
        await response.prepare(request)
        # aclosing: a client hanging up mid-write must release the layer it was
        # advancing at once, not whenever the generator is garbage-collected.
        async with contextlib.aclosing(self._pull_events(key)) as events:
            async for event in events:
                if isinstance(event, _Drop):
                    return self._abort(request, response)
                await response.write(go_json(event) + b"\n")
        return response

    def _abort(
        self, request: web.Request, response: web.StreamResponse | None = None
    ) -> web.StreamResponse:
        if request.transport is not None:
            request.transport.abort()
        return response or web.Response(status=500)

    def _progress_bytes(self, digests: list[str], sizes: list[int]) -> int:
        done = 0
        for digest, size in zip(digests, sizes, strict=True):
            if digest in self._blobs:
                done += size
            elif digest in self._partials:
                done += self._partials[digest].completed
        return done

    async def _pull_events(self, key: str) -> AsyncGenerator[_Event, None]:
        """Ollama's PullModel: manifest, each layer, verify, write, prune, success."""
        yield {"status": "pulling manifest"}
        spec = self._spec_for(key)
        if spec is None:
            yield {"error": MANIFEST_NOT_FOUND}
            return
        digests = _layer_digests(key, spec)
        total = sum(spec.layers) or 1
        me = object()
        for digest, size in zip(digests, spec.layers, strict=True):
            status = f"pulling {digest[7:19]}"
            if digest in self._blobs:
                yield {"status": status, "digest": digest, "total": size, "completed": size}
                continue
            blob = self._partials.setdefault(digest, _Partial(total=size))
            try:
                while True:
                    line: dict[str, Any] = {"status": status, "digest": digest, "total": size}
                    if blob.completed:
                        line["completed"] = blob.completed  # omitempty, as in Go
                    yield line
                    if blob.completed >= size:
                        break
                    await asyncio.sleep(1 / self.lines_per_second)
                    if blob.driver is None or blob.driver is me:
                        blob.driver = me
                        step = max(1, int(self.bytes_per_second / self.lines_per_second))
                        blob.completed = min(size, blob.completed + step)
                        self._notify()
                    percent = 100 * self._progress_bytes(digests, spec.layers) / total
                    if self.drop_at_percent is not None and percent >= self.drop_at_percent:
                        yield _DROP
                        return
                    if self.fail_at_percent is not None and percent >= self.fail_at_percent:
                        yield {"error": self.fail_message}
                        return
            finally:
                if blob.driver is me:
                    blob.driver = None
            self._partials.pop(digest, None)
            self._blobs.add(digest)
        yield {"status": "verifying sha256 digest"}
        yield {"status": "writing manifest"}
        previous = self._installed.get(key.lower())
        self._installed[key.lower()] = _Installed(key, spec, digests, datetime.now(UTC))
        self._notify()
        if previous is not None and set(previous.digests) - set(digests):
            yield {"status": "removing unused layers"}
            self._prune(previous.digests)
        yield {"status": "success"}


# --- standalone mode -------------------------------------------------------------------


def _known_models() -> str:
    """The ``--help`` epilog: every pullable name, wrapped."""
    names = sorted(default_catalog())
    return "models it can pull (nothing is downloaded; progress runs on a clock):\n" + (
        textwrap.fill(", ".join(names), width=88, initial_indent="  ", subsequent_indent="  ")
    )


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.ollama_standin",
        description="Serve Ollama's REST API (a stand-in for trying pulls without Ollama).",
        epilog=_known_models(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=11434)
    parser.add_argument("--bytes-per-second", type=float, default=200 * 1024 * 1024)
    parser.add_argument("--lines-per-second", type=float, default=1 / 0.06)
    parser.add_argument("--fail-at-percent", type=float, default=None)
    parser.add_argument("--fail-message", default="max retries exceeded: unexpected EOF")
    parser.add_argument("--drop-at-percent", type=float, default=None)
    parser.add_argument("--first-byte-delay", type=float, default=0.0)
    parser.add_argument(
        "--installed", nargs="*", default=["llama3:8b"], help="models installed at start"
    )
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    standin = OllamaStandin(
        installed=args.installed,
        bytes_per_second=args.bytes_per_second,
        lines_per_second=args.lines_per_second,
        fail_at_percent=args.fail_at_percent,
        fail_message=args.fail_message,
        drop_at_percent=args.drop_at_percent,
        first_byte_delay=args.first_byte_delay,
    )
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, done.set)
    await standin.start(args.host, args.port)
    try:
        print(f"Ollama stand-in listening on {standin.url}", flush=True)
        await done.wait()
    finally:
        await standin.stop()


def main(argv: list[str] | None = None) -> None:
    asyncio.run(_serve(_arguments(argv)))


if __name__ == "__main__":
    main()
