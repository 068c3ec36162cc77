"""The admin commands of ``modeldeck``: they talk to a running server over REST/Socket.IO.

    modeldeck providers ls|add|rm|enable|disable
    modeldeck models    ls|add|rm|default|start|stop
    modeldeck creds     set|rm
    modeldeck ollama    ls|rm|pull|cancel
    modeldeck proxy     status|start|stop|logs
    modeldeck watch     [--topics ...] [--json]

Every command and group takes ``--url`` and ``--token`` (env ``MODELDECK_URL``,
``MODELDECK_TOKEN``); the innermost one given wins, so ``modeldeck models --url A ls``
and ``modeldeck models ls --url A`` both work. A failure is one line on stderr,
``error: <what the server said>``, and a non-zero exit, never a traceback (set
``MODELDECK_DEBUG=1`` to see one for an unexpected error). Nothing prompts unless
stdin is a terminal: a secret given as ``-`` is asked for, hidden, on a terminal and
read from stdin otherwise.

Exit codes: 0 done, 1 the server refused or could not be reached or the pull failed,
2 bad command line, 130 interrupted (Ctrl-C).

The groups live in ``admin.registry`` and ``admin.ollama``; ``watch`` lives here.
"""

from __future__ import annotations

import asyncio
import signal
import sys

import click

from server.admin.client import (
    CONNECTED,
    DISCONNECTED,
    PROBLEM,
    REFUSED,
    TOPICS,
    AdminClient,
    EventStream,
    Unreachable,
)
from server.admin.command import connection_options, run
from server.admin.ollama import ollama
from server.admin.output import event_json, event_line
from server.admin.proxy import proxy
from server.admin.registry import creds, models, providers

# -- watch ------------------------------------------------------------------------

TOPIC_OF = {
    "providers:updated": "providers",
    "models:updated": "models",
    "credentials:updated": "credentials",
    "proxy:status": "proxy",
    "ollama:updated": "ollama",
}


def _topics(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> list[str]:
    topics = [t.strip() for v in value for t in v.split(",") if t.strip()] or list(TOPICS)
    unknown = [t for t in topics if t not in TOPICS]
    if unknown:
        raise click.BadParameter(
            f"unknown topic(s) {', '.join(unknown)}; known: " + ", ".join(TOPICS)
        )
    return list(dict.fromkeys(topics))


@click.command()
@click.option(
    "--topics",
    multiple=True,
    callback=_topics,
    metavar="LIST",
    help=f"Only these topics, comma-separated or repeated ({', '.join(TOPICS)}; default all).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON line per event, for scripts.")
@click.option("--last-seq", type=click.IntRange(min=0), help="Replay events after this seq.")
@click.option("--count", type=click.IntRange(min=1), help="Exit after this many events.")
@connection_options
def watch(topics: list[str], as_json: bool, last_seq: int | None, count: int | None) -> None:
    """Print events as they happen, until Ctrl-C.

    One line per event: readable by default, JSON with --json (each line flushed at
    once). Reconnects by itself and resumes without gaps (auth.lastSeq). Connection
    changes are reported on stderr; if the server refuses to take it back (its token
    changed), it says why and exits 1.
    """

    async def command(api: AdminClient) -> int:
        return await _watch(api, topics, as_json=as_json, last_seq=last_seq, count=count)

    run(command)


async def _watch(
    api: AdminClient, topics: list[str], *, as_json: bool, last_seq: int | None, count: int | None
) -> int:
    async def on_connect(stream: EventStream) -> None:
        if len(topics) < len(TOPICS):
            await stream.only_topics(topics)

    stream = EventStream(api.url, api.token, last_seq=last_seq, on_connect=on_connect)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    printed = 0
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await stream.probe()
        await stream.connect()
        while not stop.is_set():
            getter = asyncio.ensure_future(stream.queue.get())
            await asyncio.wait({getter, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not getter.done():
                getter.cancel()
                break
            name, data = getter.result()
            if name == CONNECTED:
                click.echo(f"connected to {api.url} ({data})", err=True)
            elif name == DISCONNECTED:
                click.echo(f"connection lost ({data}); reconnecting", err=True)
            elif name == PROBLEM:
                click.echo(f"warning: {data}", err=True)
            elif name == REFUSED:
                raise Unreachable(str(data))
            elif TOPIC_OF.get(name) in (None, *topics):
                # Filtered here too: a replay on connect predates the topic choice.
                line = event_json(name, data) if as_json else event_line(name, data)
                sys.stdout.write(line + "\n")
                sys.stdout.flush()
                printed += 1
                if count is not None and printed >= count:
                    break
    finally:
        stopped.cancel()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await stream.close()
    return 0


def register_admin_commands(main: click.Group) -> None:
    """Add the admin commands to the ``modeldeck`` command group."""
    for command in (providers, models, creds, ollama, proxy, watch):
        main.add_command(command)
