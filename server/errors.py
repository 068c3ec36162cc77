"""Service errors and their one mapping to HTTP statuses and socket replies.

    ServiceError                     code            HTTP
    ├── BadRequest                   bad_request     400
    │   └── ValidationFailed         validation_error 422
    ├── Unauthorized                 unauthorized    401
    ├── Forbidden                    forbidden       403
    │   ├── HostNotAllowed           host_not_allowed 403
    │   └── OriginNotAllowed         origin_not_allowed 403
    ├── ResourceNotFound             not_found       404
    ├── MethodNotAllowed             method_not_allowed 405
    ├── ResourceConflict             conflict        409
    ├── PayloadTooLarge              payload_too_large 413
    ├── UnsupportedMediaType         unsupported_media_type 415
    ├── Unavailable                  unavailable     503
    └── InsufficientStorage          insufficient_storage 507

Storage errors (``storage.errors``) and Ollama errors (``server.ollama.client``) are
translated here too, so routes and socket handlers never build error bodies themselves:
Ollama unreachable -> 503, no such model -> 404, an invalid name -> 422 naming ``model``,
any other Ollama error -> 400 (Ollama refused the request) or 503 (Ollama failed).
A database that cannot take the request (``StorageUnavailable``: busy, its file gone,
read-only, a disk fault) -> 503, its disk full -> 507; both with ``service: database``.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from pydantic.alias_generators import to_camel

from server.ollama.client import (
    InvalidModelName,
    OllamaError,
    OllamaNotFound,
    OllamaRequestError,
    OllamaUnavailable,
)
from storage.errors import Conflict, DiskFull, NotFound, StorageError, StorageUnavailable


class ServiceError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            error["details"] = self.details
        return {"error": error}

    def reply(self) -> dict[str, Any]:
        """This error as a socket request's answer, the seed's ``{success, data, error}``."""
        return {"success": False, "data": None, **self.body()}


class BadRequest(ServiceError):
    status, code = 400, "bad_request"


class ValidationFailed(BadRequest):
    status, code = 422, "validation_error"


class Unauthorized(ServiceError):
    status, code = 401, "unauthorized"


class Forbidden(ServiceError):
    status, code = 403, "forbidden"


class HostNotAllowed(Forbidden):
    """The ``Host`` header names no host this server answers to (DNS rebinding)."""

    code = "host_not_allowed"


class OriginNotAllowed(Forbidden):
    """A page from another origin, not named by ``--cors-origin``, sent this request."""

    code = "origin_not_allowed"


class ResourceNotFound(ServiceError):
    status, code = 404, "not_found"


class MethodNotAllowed(ServiceError):
    status, code = 405, "method_not_allowed"


class ResourceConflict(ServiceError):
    status, code = 409, "conflict"


class PayloadTooLarge(ServiceError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(ServiceError):
    status, code = 415, "unsupported_media_type"


class Unavailable(ServiceError):
    status, code = 503, "unavailable"


class InsufficientStorage(ServiceError):
    status, code = 507, "insufficient_storage"


def _field_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(to_camel(part) if isinstance(part, str) else str(part) for part in loc)


def from_validation_error(exc: ValidationError, *, prefix: str = "") -> ValidationFailed:
    """A 422 whose message names the first bad field and whose details list them all."""
    problems = [
        {"field": prefix + _field_path(err["loc"]), "message": err["msg"], "type": err["type"]}
        for err in exc.errors(include_url=False, include_context=False, include_input=False)
    ]
    first = problems[0]
    where = first["field"] or "body"
    message = f"{where}: {first['message']}"
    if len(problems) > 1:
        message += f" (and {len(problems) - 1} more)"
    return ValidationFailed(message, details=problems)


def to_service_error(exc: Exception) -> ServiceError:
    """Translate any known lower-layer error into a ServiceError."""
    if isinstance(exc, ServiceError):
        return exc
    if isinstance(exc, ValidationError):
        return from_validation_error(exc)
    if isinstance(exc, OllamaError):
        return _from_ollama_error(exc)
    if isinstance(exc, StorageError):
        details = {"field": exc.field} if exc.field else None
        if isinstance(exc, NotFound):
            return ResourceNotFound(exc.message, details=details)
        if isinstance(exc, Conflict):
            return ResourceConflict(exc.message, details=details)
        if isinstance(exc, DiskFull):
            return InsufficientStorage(exc.message, details={"service": "database"})
        if isinstance(exc, StorageUnavailable):
            return Unavailable(exc.message, details={"service": "database"})
        return ServiceError(exc.message)
    return ServiceError("internal error")


def _from_ollama_error(exc: OllamaError) -> ServiceError:
    """Ollama's own message, prefixed so a user knows which system answered."""
    ollama = {"service": "ollama"}
    if isinstance(exc, InvalidModelName):
        return ValidationFailed(f"model: {exc.message}", details={"field": "model"})
    if isinstance(exc, OllamaUnavailable):
        return Unavailable(f"Ollama is unavailable: {exc.message}", details=ollama)
    if isinstance(exc, OllamaNotFound):
        return ResourceNotFound(exc.message[:1].upper() + exc.message[1:], details=ollama)
    if isinstance(exc, OllamaRequestError) and 400 <= exc.status < 500:
        return BadRequest(f"Ollama refused the request: {exc.message}", details=ollama)
    return Unavailable(f"Ollama failed: {exc.message}", details=ollama)
