"""Which ``baseUrl`` a provider may have: the router sends the provider's key there.

A base URL is a prefix the router appends ``/chat/completions`` and the like to, so a
query string or a fragment has no place in it (and ``?`` or ``#`` would swallow the
path the router appends). Link-local addresses are cloud metadata services (AWS,
GCP, Azure at 169.254.169.254, AWS's IPv6 fd00:ec2::254) or a neighbour's interface,
never an AI provider: forwarding there turns the router into a way to read the host's
cloud credentials, so they are refused unless the operator passes
``--allow-link-local-upstreams``. Loopback stays allowed: that is a local Ollama.

The address rule is applied twice: to the URL as written (``upstream_refusal``, when a
provider is saved and again before each forward) and to what a name resolves to
(``UpstreamResolver``, in the router's connector), since a name such as
``metadata.google.internal`` resolves to 169.254.169.254.
"""

from __future__ import annotations

import ipaddress
import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from pydantic import AnyHttpUrl, TypeAdapter, ValidationError

_URL: TypeAdapter[AnyHttpUrl] = TypeAdapter(AnyHttpUrl)

#: Link-local and metadata-service networks (IPv4-mapped IPv6 forms are unwrapped first).
LINK_LOCAL_NETWORKS = (
    ipaddress.ip_network("169.254.0.0/16"),
    ipaddress.ip_network("fe80::/10"),
    ipaddress.ip_network("fd00:ec2::254/128"),
)


def is_link_local(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """A link-local or metadata-service address (IPv4-mapped IPv6 forms included)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in LINK_LOCAL_NETWORKS)


def syntax_refusal(url: str) -> str | None:
    """Why ``url`` cannot be a base URL whatever the operator allows, or None."""
    if "?" in url:
        return "must not contain a query string ('?')"
    if "#" in url:
        return "must not contain a fragment ('#')"
    return None


def upstream_refusal(url: str, *, allow_link_local: bool) -> str | None:
    """Why the router must not send a key to ``url``, or None when it may."""
    refused = syntax_refusal(url)
    if refused is not None or allow_link_local:
        return refused
    try:
        # pydantic's parser normalises the host the way resolvers read it
        # (``2852039166`` and ``0xa9.0xfe.0xa9.0xfe`` are both 169.254.169.254).
        host = _URL.validate_python(url).host or ""
    except ValidationError:
        return "is not a valid http(s) URL"
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None  # a name: resolved by the router at request time
    if is_link_local(address):
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return (
            f"{address} is a link-local or cloud-metadata address; start the server with "
            "--allow-link-local-upstreams to allow it"
        )
    return None


class UpstreamResolver(AbstractResolver):
    """aiohttp's resolver minus link-local and metadata answers: a provider name that
    resolves only there fails to connect, as if it did not resolve."""

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner if inner is not None else DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await self._inner.resolve(host, port, family)
        kept = [a for a in answers if not is_link_local(ipaddress.ip_address(a["host"]))]
        if not kept:
            raise socket.gaierror(
                socket.EAI_NONAME,
                f"{host} resolves only to link-local or cloud-metadata addresses "
                "(allowed with --allow-link-local-upstreams)"
            )
        return kept

    async def close(self) -> None:
        await self._inner.close()
