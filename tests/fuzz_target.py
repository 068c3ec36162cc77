"""modeldeck and the Ollama stand-in as real processes, for the schemathesis runs.

Schemathesis calls the server with blocking ``requests`` from the test's own thread, so
the server cannot live on that thread's event loop: it runs as ``python -m server
serve`` on a free port, like a user runs it. Used by ``tests/test_fuzz_openapi.py``
and ``bench/fuzz_openapi.py``; every process started here is stopped on exit.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.processes import free_port

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Target:
    url: str
    token: str | None
    ollama_url: str
    log: Path

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


def _wait_until_up(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited: {log.read_text()[-2000:]}")
        with contextlib.suppress(OSError, urllib.error.URLError):
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status < 500:
                    return
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


@contextlib.contextmanager
def _process(command: list[str], log: Path, ready_url: str) -> Iterator[None]:
    with log.open("ab") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=out, cwd=ROOT, env=dict(os.environ))
    try:
        _wait_until_up(ready_url, proc, log, timeout=20)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def ollama_standin(workdir: Path) -> Iterator[str]:
    """The Ollama stand-in on a free port; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "tests.ollama_standin", "--port", str(port)]
    with _process(command, workdir / "ollama-standin.log", url + "/api/version"):
        yield url


@contextlib.contextmanager
def modeldeck(workdir: Path, *, token: str | None, ollama_url: str) -> Iterator[Target]:
    """``modeldeck serve`` on a free port with a fresh database (seeded, as on first start).

    The proxy supervisor's processes are left unstarted; ``/api/proxy/start`` starts
    modeldeck's own router on another free port, as it would for a user.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = workdir / "modeldeck.log"
    command = [sys.executable, "-m", "server", "serve", "--port", str(port),
               "--db", str(workdir / "modeldeck.db"), "--ollama-url", ollama_url,
               "--router-port", str(free_port()), "--log-level", "warning"]  # fmt: skip
    if token is not None:
        command += ["--token", token]
    with _process(command, log, url + "/health"):
        yield Target(url, token, ollama_url, log)


def closed_port_url() -> str:
    """A loopback URL nothing listens on: Ollama "down", so its routes answer 503."""
    return f"http://127.0.0.1:{free_port()}"


#: Every check stays on, with three adjustments, each for a documented behaviour:
#: - 503 is not a server error where the document lists it (Ollama down, a proxy process
#:   that failed to start); ``status_code_conformance`` fails it anywhere else.
#: - ``DELETE /api/ollama/pulls/{id}`` cancels a job, which stays readable as "cancelled"
#:   (SPEC "Pulls"), so "a deleted resource is gone" (a check of stateful sequences)
#:   does not apply to it: stateful sequences leave that path out.
#: - Stateful sequences skip the Ollama ``{name}`` routes: links inferred from response
#:   fields feed them any string (a model's display name, "Gemini 2.5 Flash") that the
#:   document's pattern excludes and the server refuses with 422, as documented, which
#:   schemathesis would count as "valid data rejected". Their other phases still run.
SCHEMATHESIS_CONFIG = """\
[checks.not_a_server_error]
expected-statuses = ["2xx", "3xx", "4xx", "503"]

[[operations]]
include-path = "/api/ollama/pulls/{id}"
phases.stateful.enabled = false

[[operations]]
include-path-regex = "^/api/ollama/models/[{]name[}]"
phases.stateful.enabled = false
"""


@dataclass(frozen=True)
class FuzzReport:
    """What one schemathesis run found, and what the server saw of it."""

    exit_code: int
    output: str
    report: dict[str, Any]
    requests_by_status: dict[str, int]

    @property
    def requests(self) -> int:
        return sum(self.requests_by_status.values())

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.requests_by_status.items() if status.startswith("5"))

    @property
    def failures_by_check(self) -> Counter[str]:
        """Unique failures per check (ST codes and titles, as schemathesis names them)."""
        counts: Counter[str] = Counter()
        for failure in self.report.get("failures", []):
            for check in failure.get("checks", [failure]):
                counts[str(check.get("name") or check.get("code") or check.get("title"))] += 1
        return counts


def run_schemathesis(
    target: Target,
    workdir: Path,
    *,
    max_examples: int,
    seed: int,
    workers: int = 1,
    max_time: int | None = None,
) -> FuzzReport:
    """``schemathesis run`` on the target's /openapi.json: all checks, all phases
    (examples, coverage, fuzzing, stateful), fixed seed, no example database."""
    config = workdir / "schemathesis.toml"
    config.write_text(SCHEMATHESIS_CONFIG)
    report_path = workdir / "schemathesis-report.json"
    command = [str(Path(sys.executable).with_name("schemathesis")), "--config-file", str(config),
               "run", target.url + "/openapi.json", "--checks", "all", "--seed", str(seed),
               "--max-examples", str(max_examples), "--workers", str(workers),
               "--generation-database", "none", "--suppress-health-check", "all",
               "--report", "json", "--report-json-path", str(report_path),
               "--output-truncate", "true"]  # fmt: skip
    if max_time is not None:
        command += ["--max-time", str(max_time)]
    for name, value in target.headers.items():
        command += ["--header", f"{name}: {value}"]
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, check=False)
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    return FuzzReport(done.returncode, done.stdout + done.stderr, report, _requests(target))


def _requests(target: Target) -> dict[str, int]:
    """Requests the server counted (``modeldeck_http_requests_total``), by status."""
    request = urllib.request.Request(target.url + "/metrics", headers=target.headers)
    with urllib.request.urlopen(request, timeout=10) as resp:
        text = resp.read().decode()
    by_status: Counter[str] = Counter()
    for line in text.splitlines():
        match = re.match(r'modeldeck_http_requests_total\{.*status="(\d+)".*\} ([0-9.e+]+)$', line)
        if match:
            by_status[match[1]] += int(float(match[2]))
    return dict(by_status)
