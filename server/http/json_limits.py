"""Bounds on untrusted JSON that its parser does not enforce by itself.

orjson parses up to 1,024 levels of nesting but serialises only 254, so a body nested a
few hundred levels deep would be accepted, stored, and then fail on the way out as a 500.
Every JSON body is held to ``MAX_DEPTH`` instead, with a 422 naming where it went too deep.
"""

from __future__ import annotations

from typing import Any

from server.errors import ValidationFailed

#: Far deeper than any document modeldeck stores, far below orjson's 254.
MAX_DEPTH = 32


def check_depth(value: Any, *, field: str = "body", limit: int = MAX_DEPTH) -> None:
    """Raise ValidationFailed when ``value`` nests objects/arrays deeper than ``limit``.

    Iterative, so a hostile document cannot exhaust the interpreter's stack either.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            raise ValidationFailed(
                f"{field}: nested deeper than {limit} levels", details={"field": field}
            )
        stack.extend((child, depth + 1) for child in children)
