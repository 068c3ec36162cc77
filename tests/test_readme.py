"""The README's commands work as written, after its two set-up commands.

Every ```bash block is read as a reader would paste it: each command must name a
program that exists in a fresh shell on this machine once set-up has run (a file in
the checkout such as ``.venv/bin/modeldeck``, a shell builtin, or a program on the
PATH without any virtualenv on it). The command-line and REST examples are then run,
line by line through bash, against a real server process (pointed at with
``MODELDECK_URL``, or with the README's URL replaced), and each must exit 0.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.children import ROOT, Child
from tests.ollama_standin import OllamaStandin
from tests.processes import ServerProcess, free_port

README = ROOT / "README.md"
#: The README opens with these two: set up and serve, then set up and test.
SERVE_PREFIX, SERVE_SUFFIX = "python3 -m venv .venv && ", " && .venv/bin/modeldeck serve"
TEST_COMMAND = "./scripts/test"
BUILTINS = {".", "source", "cd", "echo", "export", "eval", "set"}
README_URL = "http://127.0.0.1:3002"
#: Commands that run until stopped: checked for their program only.
ENDLESS = ("modeldeck serve", "modeldeck watch", "python_client.py", "tests.ollama_standin")
SEPARATORS = {"|", "||", "&&", ";", "&"}
REDIRECTS = {">", ">>", "<", "2>", "&>"}


def bash_blocks() -> list[list[str]]:
    """Each ```bash block of the README as its commands (continuation lines joined)."""
    blocks = re.findall(r"^```bash\n(.*?)^```", README.read_text(), re.S | re.M)
    result = []
    for block in blocks:
        joined = block.replace("\\\n", " ")
        lines = [line.strip() for line in joined.splitlines()]
        result.append([line for line in lines if line and not line.startswith("#")])
    return result


def programs(command: str) -> list[str]:
    """The program each simple command of ``command`` runs (pipelines, && and ; split)."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    found: list[str] = []
    expect_program = True
    for token in lexer:
        if token in SEPARATORS:
            expect_program = True
        elif expect_program and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", token):
            continue  # VAR=value before the program
        elif expect_program and token not in REDIRECTS:
            found.append(token)
            expect_program = False
    return found


def fresh_shell_path() -> str:
    """PATH as a new login shell has it: without any virtualenv's bin directory."""
    entries = os.environ.get("PATH", "").split(os.pathsep)
    return os.pathsep.join(e for e in entries if e and not (Path(e) / "activate").exists())


def missing_program(program: str) -> str | None:
    """Why ``program`` would not run after set-up, or None if it would."""
    if program in BUILTINS:
        return None
    if "/" in program:
        path = (ROOT / program).resolve()
        if path.is_file() and os.access(path, os.X_OK):
            return None
        return f"{program}: no such executable in the checkout after set-up"
    if shutil.which(program, path=fresh_shell_path()):
        return None
    venv = ROOT / ".venv" / "bin" / program
    if venv.exists():
        return f"{program}: only in the virtualenv; write .venv/bin/{program}"
    return f"{program}: not on the PATH"


def test_the_first_block_starts_with_the_two_set_up_commands() -> None:
    serve, test = bash_blocks()[0][:2]
    assert serve.startswith(SERVE_PREFIX) and serve.endswith(SERVE_SUFFIX), serve
    assert test == TEST_COMMAND


def test_every_command_names_a_program_that_exists_after_set_up() -> None:
    assert (ROOT / ".venv" / "bin" / "modeldeck").exists(), "run the set-up first (scripts/test)"
    commands = [command for block in bash_blocks() for command in block]
    assert len(commands) > 5  # the blocks were found
    problems = [
        f"{command!r}: {why}"
        for command in commands
        for program in programs(command)
        if (why := missing_program(program)) is not None
    ]
    assert problems == []


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("modeldeck ls | grep x", ["modeldeck", "grep"]),
        ("A=1 B=2 .venv/bin/x && ./y > out; echo done", [".venv/bin/x", "./y", "echo"]),
        ("python test.py", ["python"]),
    ],
)
def test_programs_are_found_in_pipelines_and_lists(command: str, expected: list[str]) -> None:
    assert programs(command) == expected


def test_a_program_only_in_the_virtualenv_is_reported() -> None:
    assert (
        missing_program("modeldeck")
        == "modeldeck: only in the virtualenv; write .venv/bin/modeldeck"
    )
    assert missing_program(".venv/bin/no-such-program") is not None


# -- running them -------------------------------------------------------------------


@pytest.fixture
async def readme_server(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    """``modeldeck serve`` as the README starts it, with the Ollama stand-in behind it."""
    async with OllamaStandin(bytes_per_second=6_400_000_000, lines_per_second=200) as ollama:
        server = ServerProcess(
            tmp_path / "readme.db", "--ollama-url", ollama.url, "--router-port", str(free_port())
        )
        try:
            await server.start()
            yield server
        finally:
            await server.stop()


async def run_line(line: str, server: ServerProcess, home: Path) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELDECK_")}
    env |= {"MODELDECK_URL": server.url, "HOME": str(home), "PATH": fresh_shell_path()}
    child = await Child.start("bash", "-c", line.replace(README_URL, server.url), env=env)
    try:
        code = await child.wait(timeout=60)
    finally:
        await child.close()
    return code, child.transcript()


async def test_the_readme_commands_run_against_a_real_server(
    readme_server: ServerProcess, tmp_path: Path
) -> None:
    ran = 0
    for block in bash_blocks()[1:]:  # the set-up block is what made this checkout
        for line in block:
            if any(endless in line for endless in ENDLESS):
                continue
            code, transcript = await run_line(line, readme_server, tmp_path)
            assert code == 0, f"{line}\n{transcript}"
            ran += 1
    assert ran >= 20
    await readme_server.signal(signal.SIGTERM)
    assert await asyncio.wait_for(readme_server.wait(10), 15) == 0
