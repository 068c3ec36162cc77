"""How the admin CLI prints: tables, JSON, and events as one line each.

A table is a rich table on a terminal and plain aligned columns otherwise, so piped
output is never wrapped or boxed at some guessed width. ``--json`` output is the
server's JSON as it came, pretty on a terminal and one compact line otherwise.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from rich.filesize import decimal

Row = Sequence[object]


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def print_json(data: Any) -> None:
    indent = 2 if stdout_is_terminal() else None
    separators = None if indent else (",", ":")
    print(json.dumps(data, indent=indent, separators=separators, ensure_ascii=False), flush=True)


def print_table(headers: Sequence[str], rows: Sequence[Row]) -> None:
    texts = [[cell(v) for v in row] for row in rows]
    if stdout_is_terminal():
        from rich import box
        from rich.console import Console
        from rich.table import Table

        table = Table(*headers, box=box.SIMPLE_HEAD, highlight=False)
        for row in texts:
            table.add_row(*row)
        Console(highlight=False).print(table)
        return
    widths = [max([len(h), *(len(r[i]) for r in texts)]) for i, h in enumerate(headers)]
    for row in [list(headers), *texts]:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    sys.stdout.flush()


def size(n: object) -> str:
    return decimal(n) if isinstance(n, int) else "-"


# -- events ------------------------------------------------------------------------


def _providers(d: dict[str, Any]) -> str:
    return (
        f"{d.get('action')} provider {d.get('providerId')} "
        f"({d.get('enabled')} of {d.get('total')} enabled)"
    )


def _models(d: dict[str, Any]) -> str:
    return f"{d.get('action')} model {d.get('modelId')} ({d.get('total')} models)"


def _credentials(d: dict[str, Any]) -> str:
    state = "valid" if d.get("isValid") else "expired" if d.get("isExpired") else "none"
    return f"{d.get('action')} credentials of {d.get('provider')} ({state})"


def _proxy(d: dict[str, Any]) -> str:
    providers = d.get("providers") or {}
    models = d.get("models") or {}
    text = (
        f"proxy {d.get('status')}: {providers.get('enabled')} of {providers.get('total')} "
        f"providers enabled, {models.get('total')} models"
    )
    return text + (f"; {d['message']}" if d.get("message") else "")


def _ollama(d: dict[str, Any]) -> str:
    return (
        f"{d.get('action')} {d.get('model')} "
        f"({d.get('total')} installed, {size(d.get('totalSize'))})"
    )


def _reset(d: dict[str, Any]) -> str:
    return (
        f"the event log no longer reaches back that far (oldest {d.get('oldestSeq')}, "
        f"current {d.get('currentSeq')}): refetch the state"
    )


SUMMARIES: dict[str, Callable[[dict[str, Any]], str]] = {
    "providers:updated": _providers,
    "models:updated": _models,
    "credentials:updated": _credentials,
    "proxy:status": _proxy,
    "ollama:updated": _ollama,
    "events:reset": _reset,
}


def _clock(data: Any) -> str:
    stamp = data.get("timestamp") if isinstance(data, dict) else None
    try:
        moment = datetime.fromisoformat(stamp) if isinstance(stamp, str) else None
    except ValueError:
        moment = None
    moment = moment or datetime.now(UTC)
    return moment.astimezone(UTC).strftime("%H:%M:%S.%f")[:-3]


def event_line(event: str, data: Any) -> str:
    """``14:03:22.123  #42  models:updated  created model gpt-4o (12 models)``."""
    seq = data.get("seq") if isinstance(data, dict) else None
    summarize = SUMMARIES.get(event)
    if summarize is not None and isinstance(data, dict):
        text = summarize(data)
    else:
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        text = text if len(text) <= 200 else text[:199] + "…"
    return f"{_clock(data)}  {f'#{seq}' if seq is not None else '-':>6}  {event:<20} {text}"


def event_json(event: str, data: Any) -> str:
    """The Node and Python test clients' line: ``{"event", "data", "receivedAt"}``."""
    received = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    record = {"event": event, "data": data, "receivedAt": received}
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)
