"""A pull job as the pool sees it while it runs: status, overall progress, rate, ETA.

Ollama's pull stream announces blobs one at a time (``pulling <digest>`` with that
blob's ``total`` and ``completed``), so the job's overall figures are sums over the
layers seen so far::

    total     = sum(layer.total)        grows as layers appear
    completed = sum(layer.completed)    a layer's completed never goes down here
    percent   = 100 x completed / total, held monotonic

The big weights blob comes first, so ``percent`` is close to the truth early; when a
small layer appears after the weights finished, the sum of totals grows and the raw
ratio would dip (100 % -> 99.99 %): percent is kept at its highest value instead, so a
progress bar never moves back. ``bytesPerSecond`` counts only bytes that moved while
we watched (a blob Ollama already had, reported at once complete, is not a burst of
speed), over the last few seconds; ``etaSeconds`` divides what is left of the layers
seen by that rate.

Status follows Ollama's lines: ``pulling …`` -> downloading; ``verifying sha256
digest``, ``writing manifest``, ``removing unused layers`` -> verifying; ``success``
fills the bar but leaves the status to the pool, which sets completed (or failed,
cancelled) once the outcome is stored, so no event says "completed" before it is.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from storage.clock import utc_now_iso
from storage.pull_jobs import PullJobRow

__all__ = ["PullJob", "PullStatus", "RateMeter", "status_of_line"]

RATE_WINDOW_SECONDS = 5.0


class PullStatus(StrEnum):
    QUEUED = "queued"
    DOWNLOADING = "downloading"
    VERIFYING = "verifying"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (PullStatus.COMPLETED, PullStatus.FAILED, PullStatus.CANCELLED)


_VERIFYING_LINES = ("verifying", "writing manifest", "removing")


def status_of_line(line: dict[str, Any]) -> PullStatus:
    """The job status one NDJSON line of ``/api/pull`` implies."""
    text = str(line.get("status", ""))
    if text == "success" or text.startswith(_VERIFYING_LINES):
        return PullStatus.VERIFYING
    return PullStatus.DOWNLOADING


class RateMeter:
    """Bytes per second over a sliding window of (time, bytes moved) samples."""

    def __init__(self, window: float = RATE_WINDOW_SECONDS) -> None:
        self.window = window
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, now: float, moved: int) -> None:
        """Record the running total of bytes moved at ``now``."""
        self._samples.append((now, moved))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self.window:
            self._samples.popleft()

    def rate(self) -> float | None:
        if len(self._samples) < 2:
            return None
        (t0, b0), (t1, b1) = self._samples[0], self._samples[-1]
        return (b1 - b0) / (t1 - t0) if t1 > t0 else None


@dataclass
class _Layer:
    total: int
    completed: int
    first_seen: int  # completed when we first saw it: bytes before that did not move now


@dataclass(eq=False)  # a job is itself: compared and hashed by identity
class PullJob:
    """One job's live state. Owned by the pool's event loop; not thread-safe."""

    id: str
    model: str
    status: PullStatus
    created_at: str
    digest: str | None = None
    message: str = ""
    error: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    updated_at: str | None = None
    total: int = 0
    completed: int = 0
    percent: float = 0.0
    queue_position: int | None = None
    owner: str | None = None  # the process running it
    _layers: dict[str, _Layer] = field(default_factory=dict, repr=False)
    _meter: RateMeter = field(default_factory=RateMeter, repr=False)

    @classmethod
    def new(cls, model: str) -> PullJob:
        return cls(
            id=uuid.uuid4().hex,
            model=model,
            status=PullStatus.QUEUED,
            created_at=utc_now_iso(),
            message="waiting for a free worker",
        )

    @classmethod
    def from_row(cls, row: PullJobRow) -> PullJob:
        job = cls(
            id=row.id,
            model=row.model,
            status=PullStatus(row.status),
            created_at=row.created_at,
            digest=row.digest,
            message=row.message,
            error=row.error,
            started_at=row.started_at,
            finished_at=row.finished_at,
            updated_at=row.updated_at,
            total=row.total,
            completed=row.completed,
            owner=row.owner,
        )
        job.percent = 100.0 if job.status is PullStatus.COMPLETED else job._ratio()
        return job

    def to_row(self) -> PullJobRow:
        return PullJobRow(
            id=self.id,
            model=self.model,
            status=self.status.value,
            digest=self.digest,
            total=self.total,
            completed=self.completed,
            message=self.message,
            error=self.error,
            created_at=self.created_at,
            started_at=self.started_at,
            finished_at=self.finished_at,
            updated_at=self.updated_at,
            owner=self.owner,
        )

    def refresh(self, row: PullJobRow, now: float) -> bool:
        """Take on the state another process stored for this job (it runs it); the rate
        is measured from the stored progress. True if the status changed."""
        previous = self.status
        self.status = PullStatus(row.status)
        self.digest, self.message, self.error = row.digest, row.message, row.error
        self.started_at, self.finished_at, self.updated_at = (
            row.started_at, row.finished_at, row.updated_at
        )  # fmt: skip
        self.total, self.completed = row.total, row.completed
        self.percent = 100.0 if self.status is PullStatus.COMPLETED else max(
            self.percent, self._ratio()
        )  # fmt: skip
        self._meter.add(now, row.completed)
        return self.status is not previous

    def row_changes(self) -> dict[str, Any]:
        """The columns that change after creation, for ``storage.pull_jobs.update``."""
        row = self.to_row()
        return {
            column: getattr(row, column)
            for column in ("status", "digest", "total", "completed", "message", "error",
                           "started_at", "finished_at", "updated_at")
        }  # fmt: skip

    # -- progress ------------------------------------------------------------------

    def _ratio(self) -> float:
        return round(100 * self.completed / self.total, 1) if self.total else 0.0

    def start(self) -> None:
        self.status = PullStatus.DOWNLOADING
        self.started_at = utc_now_iso()
        self.message = "starting"
        self.queue_position = None

    def apply(self, line: dict[str, Any], now: float | None = None) -> bool:
        """Fold one Ollama progress line into the job; True if the status changed."""
        now = time.monotonic() if now is None else now
        previous = self.status
        self.status = status_of_line(line)
        self.message = str(line.get("status", self.message))
        digest = line.get("digest")
        if isinstance(digest, str) and isinstance(line.get("total"), int):
            self._layer(digest, line["total"], int(line.get("completed") or 0))
            self.digest = digest
            self._meter.add(now, sum(la.completed - la.first_seen for la in self._layers.values()))
        if line.get("status") == "success":
            self.completed = self.total
            self.percent = 100.0
        return self.status is not previous

    def _layer(self, digest: str, total: int, completed: int) -> None:
        layer = self._layers.get(digest)
        if layer is None:
            self._layers[digest] = _Layer(total, completed, first_seen=completed)
            self.total += total
            self.completed += completed
        else:
            grown = max(0, min(completed, layer.total) - layer.completed)
            layer.completed += grown
            self.completed += grown
        self.percent = max(self.percent, self._ratio())

    def finish(self, status: PullStatus, message: str, error: str | None = None) -> None:
        self.status = status
        self.message = message
        self.error = error
        self.finished_at = utc_now_iso()
        self.queue_position = None

    # -- views ---------------------------------------------------------------------

    def bytes_per_second(self) -> float | None:
        if self.status is not PullStatus.DOWNLOADING:
            return None
        return self._meter.rate()

    def view(self) -> dict[str, Any]:
        """The job as REST and ``pull:*`` events show it (camelCase)."""
        rate = self.bytes_per_second()
        eta = None
        if rate and rate > 0 and self.total:
            eta = round((self.total - self.completed) / rate, 1)
        return {
            "id": self.id,
            "model": self.model,
            "status": self.status.value,
            "digest": self.digest,
            "total": self.total,
            "completed": self.completed,
            "percent": self.percent,
            "message": self.message,
            "error": self.error,
            "queuePosition": self.queue_position,
            "bytesPerSecond": round(rate) if rate is not None else None,
            "etaSeconds": eta,
            "createdAt": self.created_at,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
        }
