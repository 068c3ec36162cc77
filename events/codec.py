"""A ``json``-compatible module backed by orjson, for python-socketio's packet codec.

python-socketio calls ``json.dumps(obj, separators=...)`` and expects ``str``; orjson
returns ``bytes`` and takes no ``separators`` (its output is already compact).
"""

from __future__ import annotations

from typing import Any

import orjson


def dumps(obj: Any, **_: Any) -> str:
    return orjson.dumps(obj).decode()


def loads(data: str | bytes, **_: Any) -> Any:
    return orjson.loads(data)
