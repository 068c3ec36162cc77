"""How ``modeldeck ollama pull`` shows a job: a rich bar, plain lines, or JSON lines.

A rich progress bar with speed and ETA on a terminal, plain lines otherwise (status
changes, every 10 %, and every few seconds), or one JSON line per update with
``--json``. The views only render; following the job is ``server.admin.progress``.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from typing import Any, Protocol, TextIO

from rich.console import Console
from rich.filesize import decimal
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn
from rich.table import Column
from rich.text import Text

FINAL = ("completed", "failed", "cancelled")

Job = dict[str, Any]


def ended(job: Job) -> bool:
    """Over and recorded: ``finishedAt`` is set once the outcome is committed, which is
    after a ``pull:progress`` may already have said ``completed``."""
    return job.get("status") in FINAL and job.get("finishedAt") is not None


def _sizes(job: Job) -> str:
    total = job.get("total") or 0
    if not total:
        return ""
    return f"{decimal(job.get('completed') or 0)}/{decimal(total)}"


def _speed(job: Job) -> str:
    rate = job.get("bytesPerSecond")
    return f"{decimal(int(rate))}/s" if rate else ""


def _eta(job: Job) -> str:
    eta = job.get("etaSeconds")
    if eta is None:
        return ""
    minutes, seconds = divmod(int(eta + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"ETA {hours}:{minutes:02d}:{seconds:02d}" if hours else f"ETA {minutes}:{seconds:02d}"


def summary(job: Job) -> str:
    """One line for a job: ``llama3.2:3b  downloading  42.0%  1.2 GB/2.0 GB  80 MB/s  ETA 0:10``."""
    status = str(job.get("status"))
    parts = [str(job.get("model")), status]
    if status == "queued" and job.get("queuePosition"):
        parts.append(f"position {job['queuePosition']}")
    else:
        parts.append(f"{float(job.get('percent') or 0):5.1f}%")
    parts += [p for p in (_sizes(job), _speed(job), _eta(job)) if p]
    return "  ".join(parts)


def final_line(job: Job) -> str:
    status = job.get("status")
    if status == "completed":
        took = _duration(job.get("startedAt"), job.get("finishedAt"))
        size = decimal(job["total"]) if job.get("total") else "already up to date"
        return f"{job.get('model')}: completed ({size}{f' in {took}' if took else ''})"
    reason = job.get("error") or job.get("message") or ""
    return f"{job.get('model')}: {status}" + (f": {reason}" if reason != status else "")


def _duration(start: Any, end: Any) -> str | None:
    try:
        seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except (TypeError, ValueError):
        return None
    return f"{seconds:.1f}s"


class PullView(Protocol):
    """Where a job's progress goes while it runs."""

    def show(self, job: Job) -> None: ...
    def note(self, text: str) -> None: ...
    def final(self, job: Job) -> None: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def stop(self) -> None: ...


class _Field(ProgressColumn):
    """One of the job's own figures (the server measures speed and ETA, not rich)."""

    def __init__(self, render: Any) -> None:
        super().__init__(table_column=Column(no_wrap=True))
        self._render = render

    def render(self, task: Task) -> Text:
        job = task.fields.get("job") or {}
        return Text(self._render(job), style="progress.data.speed")


class BarView:
    """A rich progress bar on a terminal."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("[bold]{task.description}", table_column=Column(no_wrap=True)),
            TextColumn("{task.fields[status]:<11}", table_column=Column(no_wrap=True)),
            BarColumn(bar_width=None),  # takes what the other columns leave
            TextColumn("{task.percentage:>5.1f}%", table_column=Column(no_wrap=True)),
            _Field(_sizes),
            _Field(_speed),
            _Field(_eta),
            console=console,
        )
        self.task: Any = None
        self.progress.start()

    def show(self, job: Job) -> None:
        fields: dict[str, Any] = {"status": job.get("status"), "job": job}
        percent = float(job.get("percent") or 0)
        if self.task is None:
            self.task = self.progress.add_task(str(job.get("model")), total=100, **fields)
        self.progress.update(self.task, completed=percent, **fields)

    def note(self, text: str) -> None:
        self.progress.console.print(text, highlight=False)

    def final(self, job: Job) -> None:
        self.show(job)
        self.progress.stop()
        self.console.print(final_line(job), highlight=False)

    def pause(self) -> None:
        self.progress.stop()

    def resume(self) -> None:
        self.progress.start()

    def stop(self) -> None:
        self.progress.stop()


class LineView:
    """Plain lines without a terminal: on status changes, every 10 %, every few seconds."""

    def __init__(self, out: TextIO, every: float = 5.0) -> None:
        self.out = out
        self.every = every
        self._last: tuple[str, int] | None = None
        self._at = 0.0

    def show(self, job: Job) -> None:
        status = str(job.get("status"))
        key = (status, int(float(job.get("percent") or 0) // 10))
        now = time.monotonic()
        if status in FINAL or (key == self._last and now - self._at < self.every):
            return  # the final state is printed once, by the caller
        self._last, self._at = key, now
        print(summary(job), file=self.out, flush=True)

    def note(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def final(self, job: Job) -> None:
        print(final_line(job), file=self.out, flush=True)

    def pause(self) -> None:
        pass

    def resume(self) -> None:
        pass

    def stop(self) -> None:
        pass


class JsonView(LineView):
    """``--json``: every update as one JSON line (the job as the server shows it)."""

    _shown: Job | None = None

    def show(self, job: Job) -> None:
        if job != self._shown:
            self._shown = job
            print(json.dumps(job, separators=(",", ":")), file=self.out, flush=True)

    def final(self, job: Job) -> None:
        self.show(job)  # every line stays JSON: the final state is the last job line


def make_view(*, as_json: bool, console: Console) -> PullView:
    if as_json:
        return JsonView(sys.stdout)
    if console.is_terminal:
        return BarView(console)
    return LineView(sys.stdout)
