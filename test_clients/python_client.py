#!/usr/bin/env python3
"""modeldeck Python test client.

Connects to a modeldeck server with python-socketio's AsyncClient and prints
every received event to stdout as one JSON line
``{"event": name, "data": payload, "receivedAt": iso}`` until interrupted
(SIGINT/SIGTERM). Lifecycle messages go to stderr. Reconnects resume from the
highest ``seq`` seen (sent as ``auth.lastSeq``). Events come in the delta format
unless ``--format full`` (``auth.format``).

Exit codes: 0 interrupted or --timeout elapsed, 2 connection refused or
impossible, 64 usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from datetime import UTC, datetime
from typing import Any

import socketio

EXIT_OK = 0
EXIT_CONNECT = 2
EXIT_USAGE = 64


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def log(message: str, *, quiet: bool = False) -> None:
    if not quiet:
        print(f"{now_iso()} python_client: {message}", file=sys.stderr, flush=True)


def emit_line(event: str, data: Any) -> None:
    line = json.dumps(
        {"event": event, "data": data, "receivedAt": now_iso()}, ensure_ascii=False, default=repr
    )
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class UsageParser(argparse.ArgumentParser):
    # Usage errors exit 64 instead of argparse's 2, which here means "cannot connect".
    def error(self, message: str) -> None:
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = UsageParser(
        prog="python_client.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--url", default="http://127.0.0.1:3002", help="server URL (default: %(default)s)"
    )
    p.add_argument(
        "--token",
        default=os.environ.get("MODELDECK_TOKEN") or None,
        help="auth token, sent as auth {token} (default: $MODELDECK_TOKEN)",
    )
    p.add_argument(
        "--format",
        choices=("delta", "full"),
        default="delta",
        help="event format, sent as auth {format} (default: %(default)s: registry events"
        " carry what changed; the greeting proxy:status carries the full lists)",
    )
    p.add_argument(
        "--last-seq",
        type=int,
        default=None,
        metavar="N",
        help="resume after seq N (auth {lastSeq})",
    )
    p.add_argument(
        "--transports",
        default=None,
        metavar="LIST",
        help="comma-separated: websocket | polling,websocket (default: polling, then upgrade)",
    )
    p.add_argument("--path", default="socket.io", help="Socket.IO path (default: %(default)s)")
    p.add_argument(
        "--timeout", type=float, default=None, metavar="S", help="listen for S seconds, then exit 0"
    )
    p.add_argument(
        "--quiet",
        action="store_true",
        help="no lifecycle lines on stderr (errors are still printed)",
    )
    args = p.parse_args(argv)
    if not args.url.startswith(("http://", "https://", "ws://", "wss://")):
        p.error(f"--url: not a valid http(s)/ws(s) URL: {args.url}")
    if args.last_seq is not None and args.last_seq < 0:
        p.error("--last-seq must be a non-negative integer")
    if args.transports is not None:
        transports = [t.strip() for t in args.transports.split(",") if t.strip()]
        bad = [t for t in transports if t not in ("polling", "websocket")]
        if not transports or bad:
            p.error(f"--transports: unknown transport(s): {', '.join(bad) or '(empty)'}")
        args.transports = transports
    if args.timeout is not None and args.timeout <= 0:
        p.error("--timeout must be a positive number of seconds")
    return args


async def run(args: argparse.Namespace) -> int:
    quiet = args.quiet
    # handle_sigint=False: this program handles SIGINT/SIGTERM itself and
    # disconnects cleanly instead of having the library cancel every task.
    sio = socketio.AsyncClient(
        reconnection=True, reconnection_delay=0.5, reconnection_delay_max=5, handle_sigint=False
    )
    stop = asyncio.Event()
    state: dict[str, Any] = {
        "highest_seq": args.last_seq,  # resume point, None until known
        "snapshot_pending": False,  # True until the first proxy:status of a connection
        "sent_last_seq": None,
        "exit_code": EXIT_OK,
        "refused": None,
    }

    def auth() -> dict[str, Any]:
        # Called by python-socketio on every (re)connect.
        data: dict[str, Any] = {"format": args.format}
        if args.token:
            data["token"] = args.token
        if state["highest_seq"] is not None:
            data["lastSeq"] = state["highest_seq"]
        state["sent_last_seq"] = state["highest_seq"]
        state["snapshot_pending"] = True
        return data

    def track_seq(event: str, data: Any) -> None:
        # The proxy:status sent on connect carries the current seq, possibly ahead
        # of a replay still in flight: it only sets the resume point when none is
        # known. events:reset moves it to currentSeq.
        if not isinstance(data, dict):
            return
        if event == "events:reset":
            if isinstance(data.get("currentSeq"), int):
                state["highest_seq"] = data["currentSeq"]
            return
        seq = data.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool):
            return
        if event == "proxy:status" and state["snapshot_pending"]:
            state["snapshot_pending"] = False
            if state["highest_seq"] is None:
                state["highest_seq"] = seq
            return
        if state["highest_seq"] is None or seq > state["highest_seq"]:
            state["highest_seq"] = seq

    @sio.on("*")
    async def catch_all(event: str, *args_: Any) -> None:
        data = None if not args_ else args_[0] if len(args_) == 1 else list(args_)
        emit_line(event, data)
        track_seq(event, data)

    @sio.event
    async def connect() -> None:
        transport = sio.transport()
        last = state["sent_last_seq"]
        log(
            f"connected sid={sio.get_sid()} transport={transport} url={args.url}"
            + (f" lastSeq={last}" if last is not None else ""),
            quiet=quiet,
        )

    @sio.event
    async def disconnect(reason: Any = None) -> None:
        log(f"disconnected reason={reason}", quiet=quiet)
        if stop.is_set():
            return
        if reason == sio.reason.SERVER_DISCONNECT and not stop.is_set():
            # The server closed this socket (e.g. dropped a slow consumer):
            # python-socketio does not reconnect by itself then.
            asyncio.get_running_loop().create_task(reconnect_after_server_disconnect())

    @sio.event
    async def connect_error(data: Any = None) -> None:
        message = data.get("message") if isinstance(data, dict) else data
        if sio.eio.state == "connected":
            # The transport is up and the server answered the CONNECT with an
            # error: it refused this client (e.g. a wrong token).
            state["refused"] = str(message)
            print(
                f"{now_iso()} python_client: connection refused by server: {message}",
                file=sys.stderr,
                flush=True,
            )
            state["exit_code"] = EXIT_CONNECT
            stop.set()
        else:
            log(f"connect error: {message}", quiet=quiet)

    async def reconnect_after_server_disconnect() -> None:
        await asyncio.sleep(1.0)
        if stop.is_set():
            return
        log(f"reconnecting after server disconnect (lastSeq={state['highest_seq']})", quiet=quiet)
        while not stop.is_set():
            try:
                await sio.connect(
                    args.url,
                    auth=auth,
                    transports=args.transports,
                    socketio_path=args.path,
                    wait_timeout=10,
                )
                return
            except socketio.exceptions.ConnectionError as exc:
                if state["refused"] is not None:
                    return
                log(f"reconnect failed: {exc}", quiet=quiet)
                await asyncio.sleep(2.0)

    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        log(f"{sig.name}: closing", quiet=quiet)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)

    try:
        await sio.connect(
            args.url,
            auth=auth,
            transports=args.transports,
            socketio_path=args.path,
            wait_timeout=10,
        )
    except socketio.exceptions.ConnectionError as exc:
        detail = state["refused"] or str(exc)
        if state["refused"] is None:
            print(
                f"{now_iso()} python_client: cannot connect to {args.url}: {detail}",
                file=sys.stderr,
                flush=True,
            )
        await sio.disconnect()
        return EXIT_CONNECT

    try:
        if args.timeout is not None:
            try:
                await asyncio.wait_for(stop.wait(), args.timeout)
            except TimeoutError:
                log(f"listened for {args.timeout:g}s", quiet=quiet)
        else:
            await stop.wait()
    finally:
        await sio.disconnect()
    return state["exit_code"]


def main() -> None:
    args = parse_args()
    try:
        code = asyncio.run(run(args))
    except KeyboardInterrupt:
        code = EXIT_OK
    sys.exit(code)


if __name__ == "__main__":
    main()
