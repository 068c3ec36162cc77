"""REST routes, one module per resource, each exporting its ``RouteTable`` as ``api``."""

from server.http.routes import (
    credentials,
    dashboard,
    events,
    models,
    ollama,
    providers,
    proxy,
    registry,
    system,
    test_client,
)

#: In the order the OpenAPI document lists them.
ROUTE_TABLES = (
    system.api,
    providers.api,
    models.api,
    credentials.api,
    registry.api,
    proxy.api,
    events.api,
    ollama.api,
    test_client.api,
    dashboard.api,
)
