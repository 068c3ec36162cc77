"""Admin commands for the supervised proxy processes: ``proxy start|stop|status|logs``."""

from __future__ import annotations

from typing import Any

import click

from server.admin.client import AdminClient
from server.admin.command import connection_options, json_option, run, seg
from server.admin.output import print_json, print_table


@click.group()
@connection_options
def proxy() -> None:
    """The proxy processes modeldeck supervises (its router and --proxy-config ones)."""


def _processes(status: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The per-process blocks of a ``proxy:status`` payload, by name."""
    return [
        (name, block)
        for name, block in status.items()
        if isinstance(block, dict) and "running" in block and "pid" in block
    ]


def _print_status(status: dict[str, Any]) -> None:
    rows = [
        (
            name,
            "running" if block.get("running") else "stopped",
            block.get("pid"),
            block.get("port"),
            f"{block['uptime']:.0f}s" if block.get("running") and block.get("uptime") else None,
            block.get("restarts", 0),
        )
        for name, block in _processes(status)
    ]
    print_table(("NAME", "STATE", "PID", "PORT", "UPTIME", "RESTARTS"), rows)
    message = f": {status['message']}" if status.get("message") else ""
    click.echo(f"proxy {status.get('status')}{message}")


def _show(status: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(status)
    else:
        _print_status(status)


def _target(name: str | None) -> dict[str, str] | None:
    return {"name": name} if name else None


@proxy.command("status")
@connection_options
@json_option
def proxy_status(as_json: bool) -> None:
    """Show each supervised process: running or not, pid, port, uptime, restarts."""

    async def command(api: AdminClient) -> None:
        status = await api.get("/api/proxy/status")
        _show(status, as_json)

    run(command)


@proxy.command("start")
@click.argument("name", required=False)
@connection_options
@json_option
def proxy_start(name: str | None, as_json: bool) -> None:
    """Start NAME (default: every configured process); returns once each answers."""

    async def command(api: AdminClient) -> None:
        status = await api.request("POST", "/api/proxy/start", params=_target(name))
        _show(status, as_json)

    run(command)


@proxy.command("stop")
@click.argument("name", required=False)
@connection_options
@json_option
def proxy_stop(name: str | None, as_json: bool) -> None:
    """Stop NAME (default: every process): SIGTERM, then SIGKILL after its grace period."""

    async def command(api: AdminClient) -> None:
        status = await api.request("POST", "/api/proxy/stop", params=_target(name))
        _show(status, as_json)

    run(command)


@proxy.command("logs")
@click.argument("name")
@click.option("--tail", "-n", type=click.IntRange(1, 10_000), default=100, show_default=True,
              help="How many of the last lines.")  # fmt: skip
@connection_options
@json_option
def proxy_logs(name: str, tail: int, as_json: bool) -> None:
    """Print the last lines process NAME wrote (stdout and stderr)."""

    async def command(api: AdminClient) -> None:
        logs = await api.get(f"/api/proxy/logs/{seg(name)}", params={"tail": str(tail)})
        if as_json:
            return print_json(logs)
        for line in logs["lines"]:
            click.echo(line)

    run(command)
