"""Browser safety: which ``Host``, which ``Origin`` and which write bodies are accepted.

A control plane on loopback is still reachable from every page the user's browser
opens. Three checks, the ones Jupyter, Docker's API and Ollama make, close the ways in:

- ``Host`` must be a loopback name (``localhost``, ``*.localhost``, a loopback
  address), the bound address, or one allowed with ``--allowed-host``. A DNS-rebinding
  page reaches 127.0.0.1 under its own name, so its requests carry that name and are
  refused. When bound to every interface, any IP-literal ``Host`` is accepted: only a
  DNS name can be rebound.
- A request that carries ``Origin`` must come from this server's own origin or one
  named by ``--cors-origin``. Browsers send ``Origin`` on every cross-origin request,
  including the "simple" ``no-cors`` POSTs that CORS never blocks from being sent.
- A write with a body must say ``Content-Type: application/json``: a page cannot send
  that cross-origin without a CORS preflight, which the server does not grant.

Used by the server (every route and ``/socket.io/``) and by the router alike.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

import aiohttp_cors
from aiohttp import web

from server.errors import HostNotAllowed, OriginNotAllowed, UnsupportedMediaType
from server.settings import Settings

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

#: Addresses that mean "every interface": any IP literal then names this server.
WILDCARD_BINDS = frozenset({"0.0.0.0", "::", ""})


def host_name(host_header: str) -> str:
    """The name part of a ``Host`` header, lower-case: ``[::1]:3002`` → ``::1``."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    if host.count(":") == 1:
        host = host.partition(":")[0]
    return host.rstrip(".")


class BrowserGuard:
    """The Host allow-list, the Origin check and the JSON-writes rule for one server."""

    def __init__(self, settings: Settings) -> None:
        self.bind = settings.host.strip("[]").lower()
        self.any_host = "*" in settings.allowed_hosts
        names = {"localhost", self.bind} | {h.lower().rstrip(".") for h in settings.allowed_hosts}
        #: ``.example.com`` allows example.com and every name under it (Django's rule).
        self.suffixes = (*(n for n in names if n.startswith(".")), ".localhost")
        self.names = {n for n in names if not n.startswith(".")} | {
            s.lstrip(".") for s in self.suffixes
        }
        self.origins = frozenset(settings.cors_origins)
        self.any_origin = "*" in self.origins

    def host_allowed(self, host_header: str | None) -> bool:
        if self.any_host:
            return True
        if not host_header:
            return False
        name = host_name(host_header)
        if name in self.names or name.endswith(self.suffixes):
            return True
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            return False
        return address.is_loopback or self.bind in WILDCARD_BINDS or name == self.bind

    def origin_allowed(self, origin: str | None, host_header: str | None) -> bool:
        """Our own origin (same ``host:port`` as ``Host``) or one named by ``--cors-origin``."""
        if not origin:
            return False  # engine.io asks for its CORS headers even without an Origin
        if self.any_origin or origin.rstrip("/") in self.origins:
            return True
        scheme, sep, authority = origin.partition("://")
        return (
            bool(sep)
            and scheme.lower() in ("http", "https")
            and host_header is not None
            and authority.lower() == host_header.strip().lower()
        )

    def check(
        self,
        method: str,
        headers: Mapping[str, str],
        *,
        has_body: bool,
        content_type: str,
        check_body: bool = True,
    ) -> None:
        """Raise ``HostNotAllowed``, ``OriginNotAllowed`` or ``UnsupportedMediaType``."""
        host = headers.get("Host")
        if not self.host_allowed(host):
            raise HostNotAllowed(
                f"Host '{host or ''}' is not allowed: use localhost or 127.0.0.1, or start "
                "the server with --allowed-host NAME (MODELDECK_ALLOWED_HOSTS)",
                details={"field": "Host"},
            )
        origin = headers.get("Origin")
        if origin is not None and not self.origin_allowed(origin, host):
            raise OriginNotAllowed(
                f"Origin '{origin}' is not allowed: pages from other origins need "
                "--cors-origin ORIGIN (MODELDECK_CORS_ORIGIN)",
                details={"field": "Origin"},
            )
        if (
            check_body
            and method in WRITE_METHODS
            and has_body
            and (content_type != "application/json")
        ):
            raise UnsupportedMediaType(
                f"Content-Type must be application/json, got '{content_type or 'none'}'",
                details={"field": "Content-Type"},
            )


def setup_cors(app: web.Application, origins: list[str], routes: list[web.AbstractRoute]) -> None:
    """Grant CORS on ``routes`` to the origins ``--cors-origin`` names (none by default).

    No credentials mode: modeldeck authenticates with a bearer header, never cookies,
    so a granted origin needs nothing more and ``*`` never echoes origins with cookies.
    """
    if not origins:
        return
    options = aiohttp_cors.ResourceOptions(  # type: ignore[no-untyped-call]
        allow_credentials=False, expose_headers="*", allow_headers="*", allow_methods="*"
    )
    cors = aiohttp_cors.setup(app, defaults={o: options for o in origins})
    for route in routes:
        cors.add(route)
