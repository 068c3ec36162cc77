"""A small async client for the Ollama REST routes modeldeck uses.

Errors, so callers catch at the level they care about::

    OllamaError                    anything that went wrong talking to Ollama
    ├── OllamaUnavailable          refused, DNS failure, timeout: Ollama is not there
    ├── OllamaNotFound             HTTP 404 (no such model)
    ├── OllamaRequestError         any other HTTP error status; .status, .message
    ├── PullFailed                 an {"error": ...} line or a dropped connection mid-pull
    └── InvalidModelName           (also a ValueError) a name Ollama would reject

``message`` on every error is Ollama's own text when Ollama sent one, so it can be
shown to users unchanged.

The client does not own its ``aiohttp.ClientSession``: the app creates one for its
lifetime and closes it on shutdown. Short calls get a total timeout; a pull may run
for an hour, so it only has a connect timeout and a read timeout on silence.

Model names are sent to Ollama as given; call :func:`normalize_model_name` where
names enter the system (REST bodies, socket events) so jobs and events use one
spelling.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncGenerator
from typing import Any

import aiohttp

__all__ = [
    "InvalidModelName",
    "OllamaClient",
    "OllamaError",
    "OllamaNotFound",
    "OllamaRequestError",
    "OllamaUnavailable",
    "PullFailed",
    "normalize_model_name",
]

DROPPED_MESSAGE = "connection to Ollama dropped during pull"
_DEFAULT_HOST = "registry.ollama.ai"
_DEFAULT_NAMESPACE = "library"


class OllamaError(Exception):
    """Base of every error raised by this module."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class OllamaUnavailable(OllamaError):
    """Ollama could not be reached or did not answer in time."""


class OllamaNotFound(OllamaError):
    """Ollama answered 404: the model is not installed."""

    status = 404


class OllamaRequestError(OllamaError):
    """Ollama answered with an error status other than 404."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status

    def __str__(self) -> str:
        return f"{self.message} (HTTP {self.status})"


class PullFailed(OllamaError):
    """A pull that had started streaming did not reach ``success``."""


class InvalidModelName(OllamaError, ValueError):
    """A model name that does not follow Ollama's ``[host/][namespace/]model[:tag]``."""


# --- names -----------------------------------------------------------------------------


def _check_part(kind: str, part: str, name: str) -> None:
    """Ollama's per-part rules (types/model/name.go ``isValidPart``)."""
    limit = 350 if kind == "host" else 80
    if not part:
        raise InvalidModelName(f"invalid model name {name!r}: the {kind} is empty")
    if len(part) > limit:
        raise InvalidModelName(
            f"invalid model name {name!r}: the {kind} is longer than {limit} characters"
        )
    allowed_extra = {"host": "_-.:", "namespace": "_-", "model": "_-.", "tag": "_-."}[kind]
    for index, char in enumerate(part):
        plain = char.isascii() and (char.isalnum() or char == "_")
        if index == 0 and not plain:
            raise InvalidModelName(
                f"invalid model name {name!r}: the {kind} must start with a letter, "
                "digit or underscore"
            )
        if not plain and char not in allowed_extra:
            raise InvalidModelName(
                f"invalid model name {name!r}: {char!r} is not allowed in the {kind}"
            )


def normalize_model_name(name: str) -> str:
    """Return the name as Ollama lists it: ``llama3.2`` -> ``llama3.2:latest``.

    The default registry and ``library/`` namespace are dropped the way Ollama's
    ``/api/tags`` drops them; the case is kept (Ollama compares names without case).
    Raises :class:`InvalidModelName` (a ``ValueError``) for names Ollama would reject.
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidModelName("invalid model name: a model name is required")
    rest, tag = name.strip(), "latest"
    if rest.rfind(":") > rest.rfind("/"):
        rest, _, tag = rest.rpartition(":")
    if "://" in rest:
        rest = rest.split("://", 1)[1]
    pieces = rest.split("/")
    if len(pieces) > 3:
        raise InvalidModelName(
            f"invalid model name {name!r}: expected [host/][namespace/]model[:tag]"
        )
    host = pieces[-3] if len(pieces) == 3 else _DEFAULT_HOST
    namespace = pieces[-2] if len(pieces) >= 2 else _DEFAULT_NAMESPACE
    model = pieces[-1]
    for kind, part in (("host", host), ("namespace", namespace), ("model", model), ("tag", tag)):
        _check_part(kind, part, name)
    if host.lower() != _DEFAULT_HOST:
        return f"{host}/{namespace}/{model}:{tag}"
    if namespace.lower() != _DEFAULT_NAMESPACE:
        return f"{namespace}/{model}:{tag}"
    return f"{model}:{tag}"


# --- client ----------------------------------------------------------------------------


async def _error_message(response: aiohttp.ClientResponse) -> str:
    """Ollama's ``{"error": "..."}`` text, or the raw body when it is not JSON."""
    text = (await response.text(errors="replace")).strip()
    try:
        body = json.loads(text)
    except ValueError:
        return text or f"HTTP {response.status} {response.reason or ''}".strip()
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, str) else text


async def _raise_for_status(response: aiohttp.ClientResponse) -> None:
    if response.status < 400:
        return
    message = await _error_message(response)
    if response.status == 404:
        raise OllamaNotFound(message)
    raise OllamaRequestError(response.status, message)


class OllamaClient:
    """Calls Ollama over a shared session; safe to use from many tasks at once."""

    def __init__(
        self,
        base_url: str,
        session: aiohttp.ClientSession,
        *,
        timeout: float = 5.0,
        stream_read_timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        # No total: a big pull legitimately takes hours. Silence for longer than
        # stream_read_timeout (Ollama reports every 60 ms) means it is stuck.
        self._stream_timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=timeout, sock_read=stream_read_timeout
        )
        self._stream_read_timeout = stream_read_timeout

    def _unavailable(self, exc: BaseException) -> OllamaUnavailable:
        if isinstance(exc, TimeoutError):
            return OllamaUnavailable(f"Ollama at {self.base_url} did not answer in time")
        detail = str(exc) or type(exc).__name__
        return OllamaUnavailable(f"cannot reach Ollama at {self.base_url}: {detail}")

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One short request: JSON in, JSON (or None for an empty body) out."""
        try:
            async with self._session.request(
                method, self.base_url + path, json=body, timeout=self._timeout
            ) as response:
                await _raise_for_status(response)
                raw = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            # Refused, reset, DNS, timeouts and bodies cut short all mean the same
            # thing to callers: there is no working Ollama at that address now.
            raise self._unavailable(exc) from exc
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise OllamaRequestError(200, f"Ollama sent invalid JSON for {path}") from exc

    async def version(self) -> str:
        """Ollama's version string, e.g. ``"0.12.0"``; doubles as a health check."""
        body = await self._call("GET", "/api/version")
        return str(body["version"])

    async def list_models(self) -> list[dict[str, Any]]:
        """Installed models as ``/api/tags`` lists them (newest first)."""
        body = await self._call("GET", "/api/tags")
        return list(body.get("models") or [])

    async def show(self, name: str) -> dict[str, Any]:
        """``/api/show`` for one model: details, model_info (raw GGUF keys), template."""
        body = await self._call("POST", "/api/show", {"model": name})
        return dict(body)

    async def delete(self, name: str) -> None:
        """Delete an installed model; :class:`OllamaNotFound` if there is none."""
        await self._call("DELETE", "/api/delete", {"model": name})

    async def pull(self, name: str) -> AsyncGenerator[dict[str, Any], None]:
        """Yield each NDJSON progress line of ``POST /api/pull`` as a dict.

        Ends after the ``success`` line. An ``{"error": ...}`` line, a dropped
        connection, or a stream that ends early raises :class:`PullFailed`; an HTTP
        error before the stream starts raises :class:`OllamaRequestError`.

        Closing the iterator (``aclose()``) or cancelling the task iterating it closes
        the HTTP request, which is how Ollama learns the pull was cancelled; it keeps
        the partial download, so pulling again resumes.
        """
        try:
            response = await self._session.post(
                self.base_url + "/api/pull",
                json={"model": name, "stream": True},
                timeout=self._stream_timeout,
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self._unavailable(exc) from exc
        finished = False
        try:
            await _raise_for_status(response)
            async with contextlib.aclosing(self._lines(response)) as lines:
                async for line in lines:
                    if "error" in line:
                        raise PullFailed(str(line["error"]))
                    yield line
                    if line.get("status") == "success":
                        finished = True
                        return
            raise PullFailed("Ollama ended the pull stream before reporting success")
        finally:
            if finished:
                response.release()
            else:
                # Closing (not releasing) drops the socket: Ollama must see the
                # request end rather than a connection parked in the pool.
                response.close()

    async def _lines(
        self, response: aiohttp.ClientResponse
    ) -> AsyncGenerator[dict[str, Any], None]:
        while True:
            try:
                raw = await response.content.readline()
            except TimeoutError as exc:
                raise PullFailed(
                    f"Ollama sent no pull progress for {self._stream_read_timeout:g} s"
                ) from exc
            except aiohttp.ClientError as exc:
                raise PullFailed(DROPPED_MESSAGE) from exc
            if not raw:
                return
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
            except ValueError as exc:
                raise PullFailed(f"Ollama sent an unreadable pull line: {raw[:200]!r}") from exc
            if not isinstance(line, dict):
                raise PullFailed(f"Ollama sent an unexpected pull line: {raw[:200]!r}")
            yield line
