"""HTTP side of the server: the route table, middlewares, OpenAPI and request/response schemas."""
