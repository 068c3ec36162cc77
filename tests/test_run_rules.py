"""Rules for the test run itself, checked by running pytest as a child process.

- A run that leaves a process behind fails, naming it, and the process is ended.
- In CI (``CI=true``) a test whose tool (Node, Chromium) is missing fails; elsewhere it
  is skipped, and the skip is listed with its reason (``-rs``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import psutil
import pytest

from tests.children import ROOT, Child

LEAKY_TESTS = """
import subprocess, sys

SLEEP = [sys.executable, "-c", "import time; time.sleep(600)"]
QUIET = "stdout=s.DEVNULL, stderr=s.DEVNULL"


def test_leaks_a_child_and_an_orphan(tmp_path):
    child = subprocess.Popen(SLEEP + ["child"])
    # The middle process exits at once: its own child is orphaned.
    middle = subprocess.run(
        [sys.executable, "-c",
         f"import subprocess as s, sys; print(s.Popen(sys.argv[1:], {{QUIET}}).pid)",
         *SLEEP, "orphan"],
        capture_output=True, text=True, check=True,
    )
    with open({pids!r}, "w") as out:
        out.write(f"{{child.pid}} {{middle.stdout.strip()}}")
"""


async def test_a_run_that_leaves_processes_fails_and_names_them(tmp_path: Path) -> None:
    pids_file = tmp_path / "pids"
    (tmp_path / "test_leaky.py").write_text(LEAKY_TESTS.format(pids=str(pids_file)))
    run = await Child.start(
        sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider",
        "--rootdir", str(tmp_path), str(tmp_path / "test_leaky.py"),
    )  # fmt: skip
    try:
        code = await run.wait(timeout=60)
    finally:
        await run.close()
    child, orphan = map(int, pids_file.read_text().split())
    transcript = run.transcript()
    assert code == 1, transcript  # the test itself passed: the leftovers failed the run
    assert "1 passed" in transcript
    assert "the test run left these processes running (now killed):" in transcript
    assert f"pid {child}: {sys.executable} -c import time; time.sleep(600) child" in transcript
    assert f"pid {orphan}: {sys.executable} -c import time; time.sleep(600) orphan" in transcript
    for pid in (child, orphan):
        assert not _running(pid), f"{pid} still runs"


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def test_a_clean_run_passes(tmp_path: Path) -> None:
    (tmp_path / "test_clean.py").write_text("def test_nothing():\n    pass\n")
    run = await Child.start(
        sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider",
        "--rootdir", str(tmp_path), str(tmp_path / "test_clean.py"),
    )  # fmt: skip
    try:
        assert await run.wait(timeout=60) == 0, run.transcript()
    finally:
        await run.close()


NODE_TEST = "tests/test_interop_node.py::test_without_the_right_token_the_connection_is_refused"


async def inner_pytest(*args: str, env: dict[str, str]) -> tuple[int, str]:
    run = await Child.start(sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args,
                            env=env)  # fmt: skip
    try:
        code = await run.wait(timeout=60)
    finally:
        await run.close()
    return code, "\n".join(run.out + run.err)


@pytest.mark.parametrize("ci", [None, "true"])
async def test_a_missing_node_is_a_skip_with_its_reason_but_a_failure_in_ci(
    ci: str | None,
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CI"} | {"PATH": "/nonexistent"}
    if ci is not None:
        env["CI"] = ci
    code, output = await inner_pytest(str(ROOT / NODE_TEST), env=env)
    if ci is None:
        assert code == 0, output
        assert "SKIPPED [4] tests/test_interop_node.py" in output, output  # -rs: listed
        assert "node is not installed (CI installs it)" in output
    else:
        assert code == 1, output
        assert "node is not installed (CI installs it); with CI=true that fails the run" in output
        assert "4 errors" in output and "skipped" not in output, output
