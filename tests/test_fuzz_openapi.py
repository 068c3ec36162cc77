"""Schemathesis against the running server's /openapi.json, as part of the test suite.

Every check is on (server errors, response schema, documented status codes and content
types, bad input accepted, good input refused, a 405 without ``Allow``, auth ignored,
…), in every phase schemathesis has (examples, coverage, fuzzing, and stateful
sequences that follow the links it infers), with and without a token, on a fixed seed
and a bounded number of examples. The Ollama routes run against a closed port without
a token (their documented 503) and against the Ollama stand-in with one (their
answers). ``bench/fuzz_openapi.py`` is the same run, longer.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz_target import (
    FuzzReport,
    closed_port_url,
    modeldeck,
    ollama_standin,
    run_schemathesis,
)

SEED = 20261202
EXAMPLES = 8
TOKEN = "fuzz-token-0123456789"


def assert_clean(result: FuzzReport, log: Path) -> None:
    summary = result.output[-6000:]
    assert result.report, f"schemathesis wrote no report:\n{summary}"
    assert result.failures_by_check == {}, summary
    assert result.report["errors"] == [], summary
    assert result.report["operations"]["tested"] == result.report["operations"]["total"]
    phases = {name: phase["status"] for name, phase in result.report["phases"].items()}
    assert {phases[p] for p in ("coverage", "fuzzing", "stateful")} == {"success"}, phases
    assert result.exit_code == 0, summary
    assert result.requests > 500, result.requests_by_status  # it did reach the server
    assert "unhandled error" not in log.read_text()


@pytest.mark.timeout(300)
def test_fuzzing_without_a_token_finds_nothing(tmp_path: Path) -> None:
    with modeldeck(tmp_path, token=None, ollama_url=closed_port_url()) as target:
        result = run_schemathesis(target, tmp_path, max_examples=EXAMPLES, seed=SEED)
    assert_clean(result, target.log)
    assert result.requests_by_status.get("503", 0) > 0  # Ollama routes answered "down"


@pytest.mark.timeout(300)
def test_fuzzing_with_a_token_finds_nothing(tmp_path: Path) -> None:
    with ollama_standin(tmp_path) as ollama, modeldeck(
        tmp_path, token=TOKEN, ollama_url=ollama
    ) as target:
        result = run_schemathesis(target, tmp_path, max_examples=EXAMPLES, seed=SEED)
    assert_clean(result, target.log)
    assert result.requests_by_status.get("401", 0) > 0  # ignored_auth probed without it
