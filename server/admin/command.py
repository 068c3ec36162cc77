"""What every admin command shares: ``--url``/``--token``, ``--json``, and one way to run.

``run`` is where failures become one line on stderr and an exit code: a server error
or an unreachable server -> 1, Ctrl-C -> 130, a closed pipe -> 0 (quietly, as ``cat``
does), anything unexpected -> 1 with its type (``MODELDECK_DEBUG=1`` re-raises it, to
see the traceback).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import quote

import click

from server.admin.client import AdminClient, AdminError, server_url
from server.admin.output import print_json

DEFAULT_URL = "http://127.0.0.1:3002"
EXIT_INTERRUPTED = 130
F = TypeVar("F", bound=Callable[..., Any])


# -- connection options and running a command ---------------------------------------


def _remember(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """Keep ``--url``/``--token`` in the context chain's shared ``meta``; later wins."""
    if value is not None:
        ctx.meta[f"modeldeck.{param.name}"] = value


def connection_options(f: F) -> F:
    """``--url`` and ``--token``, accepted by every group and command."""
    f = click.option(
        "--token",
        metavar="TOKEN",
        expose_value=False,
        callback=_remember,
        help="Bearer token of the server (env MODELDECK_TOKEN).",
    )(f)
    return click.option(
        "--url",
        metavar="URL",
        expose_value=False,
        callback=_remember,
        help=f"Server URL (env MODELDECK_URL; default {DEFAULT_URL}).",
    )(f)


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print the server's JSON.")(f)


def target() -> tuple[str, str | None]:
    meta = click.get_current_context().meta
    url = server_url(meta.get("modeldeck.url") or os.environ.get("MODELDECK_URL") or DEFAULT_URL)
    token = meta.get("modeldeck.token") or os.environ.get("MODELDECK_TOKEN") or None
    return url, token


def run(command: Callable[[AdminClient], Awaitable[int | None]]) -> None:
    """Run one command against the server; errors become one line and an exit code."""
    ctx = click.get_current_context()
    try:
        url, token = target()

        async def main() -> int | None:
            async with AdminClient(url, token) as client:
                return await command(client)

        code = asyncio.run(main())
    except AdminError as exc:
        click.echo(f"error: {exc.message}", err=True)
        ctx.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        ctx.exit(EXIT_INTERRUPTED)
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, as cat does.
        sys.stdout = open(os.devnull, "w")
        ctx.exit(0)
    except Exception as exc:
        if os.environ.get("MODELDECK_DEBUG"):
            raise
        click.echo(
            f"error: unexpected {type(exc).__name__}: {exc} (MODELDECK_DEBUG=1 shows where)",
            err=True,
        )
        ctx.exit(1)
    ctx.exit(code or 0)


def read_secret(value: str | None, what: str) -> str | None:
    """``-`` means stdin: a hidden prompt on a terminal, else all of stdin (stripped)."""
    if value != "-":
        return value
    if sys.stdin.isatty():
        secret: str = click.prompt(what, hide_input=True)
        return secret
    text = sys.stdin.read().strip()
    if not text:
        raise click.BadParameter(f"'-' reads the {what.lower()} from stdin, which was empty")
    return text


def seg(value: str) -> str:
    """One URL path segment."""
    return quote(value, safe="")


def echo_or_json(as_json: bool, data: Any, text: str) -> None:
    if as_json:
        print_json(data)
    else:
        click.echo(text)
