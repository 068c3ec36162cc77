"""REST routes, one module per resource, each exporting its ``RouteTable`` as ``api``."""
