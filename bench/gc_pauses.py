"""Garbage-collector pauses in a serving modeldeck under fan-out load.

    .venv/bin/python bench/gc_pauses.py [--clients 1000] [--events 600] [--rate 10]
        [--python-defaults]

Starts ``modeldeck serve`` with a collector callback that times every collection,
connects ``--clients`` websocket clients in the delta format with the shared fan-out
harness's load client, makes ``--events`` model PATCHes at ``--rate`` per second, and
prints the collections per generation (count, total and longest pause) during the
load, next to the write → last client latency. ``--python-defaults`` keeps CPython's
collector thresholds instead of the server's own, for comparison.

Needs the harness set up once (``bench/fanout.sh`` does it; the copy is looked for in
``$FANOUT_SCRATCH`` or /tmp/modeldeck-fanout-bench). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.processes import free_port  # noqa: E402

# Runs in the server process: times each collection, writes them out at exit.
WRAPPER = """
import atexit, gc, json, os, sys, time
pauses, started = [], {}
def timed(phase, info):
    if phase == "start":
        started[0] = time.perf_counter()
    else:
        pauses.append([time.time(), info["generation"], time.perf_counter() - started[0]])
gc.callbacks.append(timed)
if os.environ.get("GC_BENCH_DEFAULTS"):
    gc.set_threshold = lambda *args: None
atexit.register(lambda: open(os.environ["GC_BENCH_OUT"], "w").write(json.dumps(pauses)))
sys.argv = ["modeldeck", *sys.argv[1:]]
from server.cli import main
main()
"""


#: The load clients keep the models topic only, as a models dashboard would.
OTHER_TOPICS = '{"topics": ["providers", "credentials", "proxy", "ollama"]}'


def harness() -> Path:
    scratch = Path(os.environ.get("FANOUT_SCRATCH", "/tmp/modeldeck-fanout-bench"))
    if not (scratch / "node_modules").is_dir():
        sys.exit(f"no fan-out harness in {scratch}: run bench/fanout.sh --quick once")
    return scratch


def wait_ready(url: str) -> None:
    for _ in range(100):
        try:
            with urllib.request.urlopen(url + "/health", timeout=1) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    sys.exit("the server did not become ready")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--events", type=int, default=600)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--python-defaults", action="store_true")
    args = parser.parse_args()
    scratch = harness()
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "pauses.json"
        env = {**os.environ, "GC_BENCH_OUT": str(out)}
        if args.python_defaults:
            env["GC_BENCH_DEFAULTS"] = "1"
        server = subprocess.Popen(
            [sys.executable, "-c", WRAPPER, "serve", "--port", str(port),
             "--db", f"{tmp}/bench.db", "--router-port", str(free_port()),
             "--log-level", "WARNING", "--event-format", "delta"],
            cwd=ROOT, env=env,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            wait_ready(url)
            began = time.time()
            load = subprocess.run(
                ["node", "load_client.js", "--url", url, "--clients", str(args.clients),
                 "--events", str(args.events), "--rounds", "1", "--trigger-mode", "each",
                 "--rate", str(args.rate), "--max-wait-s", str(args.events / args.rate + 60),
                 "--trigger-url", "{base}/api/models/gemini-1.5-flash",
                 "--trigger-method", "PATCH", "--trigger-body", '{"description": "gc {run} {i}"}',
                 "--subscribe-event", "unsubscribe", "--subscribe-payload", OTHER_TOPICS],
                cwd=scratch, capture_output=True, text=True, check=False,
            )  # fmt: skip
            ended = time.time()
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(30)
        pauses = json.loads(out.read_text())
    result = json.loads([line for line in load.stdout.splitlines() if line.startswith("{")][-1])
    during = [(gen, secs) for at, gen, secs in pauses if began <= at <= ended]
    thresholds = "CPython's defaults" if args.python_defaults else "the server's own"
    print(f"{args.clients} clients, {args.events} PATCHes at {args.rate:g}/s, {thresholds}:")
    for gen in (0, 1, 2):
        times = [secs * 1000 for g, secs in during if g == gen]
        longest = max(times, default=0.0)
        print(f"  gen{gen}: {len(times)} collections, {sum(times):.1f} ms in all,"
              f" longest {longest:.1f} ms")  # fmt: skip
    last = result.get("triggerToLastMs", {})
    print("  write -> last client ms: " + ", ".join(
        f"{k} {last[k]:.1f}" for k in ("p50", "p90", "p99", "max") if k in last
    ))  # fmt: skip


if __name__ == "__main__":
    main()
