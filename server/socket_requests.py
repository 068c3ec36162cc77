"""Socket requests (seed 000): thin adapters over the REST service functions."""

from __future__ import annotations

from server.registry_service import RegistryService
from server.socket_hub import SocketHub


def register_socket_requests(hub: SocketHub, registry: RegistryService) -> None:
    """Attach the seed-000 request handlers to the hub's socket server."""
