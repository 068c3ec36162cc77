"""Schemathesis against the running server's /openapi.json: every check, with and without
a token, stateless and stateful, on a fixed seed and a bounded number of examples.

The document is the contract: a 5xx, a body that does not match its schema, a status or
content type it does not list, bad input accepted or good input refused, a 405 without
``Allow``: each is a failure here. The Ollama routes run against the stand-in when a
token is set and against a closed port without one, so both their answers and their
503 are exercised. ``bench/fuzz_openapi.py`` is the same run, longer.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import hypothesis
import pytest
import schemathesis
from schemathesis import Case
from schemathesis.config import SchemathesisConfig
from schemathesis.openapi import from_url

from tests.fuzz_target import Target, closed_port_url, modeldeck, ollama_standin

SEED = 20261202
TOKEN = "fuzz-token-0123456789"


def fuzz_config(*, max_examples: int, seed: int = SEED) -> SchemathesisConfig:
    """All checks (schemathesis enables every one by default), deterministic generation."""
    return SchemathesisConfig.from_dict(
        {
            "seed": seed,
            "generation": {"max-examples": max_examples, "database": "none"},
            "checks": {"enabled": True},
        }
    )


def load_schema(target: Target, config: SchemathesisConfig) -> schemathesis.BaseSchema:
    schema = from_url(target.url + "/openapi.json", headers=target.headers, config=config)
    schema.config.headers = target.headers  # sent with every generated request
    return schema


@pytest.fixture(scope="module")
def without_token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[schemathesis.BaseSchema]:
    workdir = tmp_path_factory.mktemp("fuzz-open")
    with modeldeck(workdir, token=None, ollama_url=closed_port_url()) as target:
        yield load_schema(target, fuzz_config(max_examples=15))


@pytest.fixture(scope="module")
def with_token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[schemathesis.BaseSchema]:
    workdir: Path = tmp_path_factory.mktemp("fuzz-token")
    with ollama_standin(workdir) as ollama, modeldeck(
        workdir, token=TOKEN, ollama_url=ollama
    ) as target:
        yield load_schema(target, fuzz_config(max_examples=15))


open_schema = schemathesis.pytest.from_fixture("without_token")
token_schema = schemathesis.pytest.from_fixture("with_token")


@open_schema.parametrize()
def test_every_operation_without_a_token(case: Case) -> None:
    case.call_and_validate()


@token_schema.parametrize()
def test_every_operation_with_a_token(case: Case) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"})


def test_stateful_sequences_with_a_token(with_token: schemathesis.BaseSchema) -> None:
    machine = with_token.as_state_machine()
    machine.run(
        settings=hypothesis.settings(
            max_examples=10,
            stateful_step_count=6,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
    )
