"""The long schemathesis run: tests/test_fuzz_openapi.py with many more examples.

    .venv/bin/python bench/fuzz_openapi.py [--examples 60] [--max-time S] [--seed 1]

``--max-time`` (seconds per run) keeps fuzzing and stateful sequences going until it is
spent; without it, each run stops once every operation had its examples.

Two runs, each against a fresh server and database: without a token (Ollama on a closed
port, so its routes answer 503) and with one (the Ollama stand-in). All checks, all
phases. Prints, per run and in total: requests the server counted by status, the test
cases schemathesis generated, failures by check, and 5xx answers; exits 1 on any
failure. Figures only, no thresholds beyond "nothing found".
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.fuzz_target import (  # noqa: E402
    FuzzReport,
    closed_port_url,
    modeldeck,
    ollama_standin,
    run_schemathesis,
)

TOKEN = "bench-fuzz-token-0123456789"


def show(label: str, result: FuzzReport, seconds: float) -> None:
    cases = result.report.get("test_cases", {})
    print(f"== {label}: {seconds:.0f} s, schemathesis exit code {result.exit_code}")
    print(f"   requests (server-counted): {result.requests:,}")
    print(f"   by status: {dict(sorted(result.requests_by_status.items()))}")
    print(f"   test cases generated: {cases.get('generated', 0):,}")
    phases = {n: p["status"] for n, p in result.report.get("phases", {}).items()}
    print(f"   phases: {phases}")
    print(f"   failures by check: {dict(result.failures_by_check) or 'none'}")
    print(f"   errors: {len(result.report.get('errors', []))}")
    if result.exit_code != 0:
        print(result.output[-8000:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=60, help="max examples per operation")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--max-time", type=int, default=None, help="seconds per run")
    args = parser.parse_args()
    total_requests = 0
    failures: Counter[str] = Counter()
    server_errors: Counter[str] = Counter()
    exit_codes = []
    with tempfile.TemporaryDirectory() as scratch:
        for label, token in (("without a token", None), ("with a token", TOKEN)):
            workdir = Path(scratch) / ("token" if token else "open")
            workdir.mkdir()
            started = time.monotonic()
            with ollama_standin(workdir) as standin:
                ollama = standin if token else closed_port_url()
                with modeldeck(workdir, token=token, ollama_url=ollama) as target:
                    result = run_schemathesis(
                        target, workdir, max_examples=args.examples, seed=args.seed,
                        workers=args.workers, max_time=args.max_time,
                    )  # fmt: skip
                unhandled = target.log.read_text().count("unhandled error")
            show(label, result, time.monotonic() - started)
            print(f"   unhandled errors in the server log: {unhandled}")
            total_requests += result.requests
            failures.update(result.failures_by_check)
            server_errors.update(
                {s: n for s, n in result.requests_by_status.items() if s.startswith("5")}
            )
            exit_codes.append(result.exit_code)
    print(f"== total: {total_requests:,} requests, failures by check: {dict(failures) or 'none'}")
    print(f"   5xx answers: {dict(server_errors) or 'none'} (503 is documented for Ollama down)")
    return 0 if not failures and not any(exit_codes) else 1


if __name__ == "__main__":
    sys.exit(main())
