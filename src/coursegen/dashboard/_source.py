"""What the dashboard reads: a `DashboardSource`, and the records it answers with.

The pages never talk to a store or a vendor themselves: they ask a source, so the same
pages run over the job store (`StoreSource`) or over records a test builds in memory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

import attrs

from coursegen._batch import FleetSample
from coursegen._models import Result

__all__ = [
    "DashboardSource",
    "ErrorInfo",
    "FleetSample",
    "JobDetail",
    "JobQuery",
    "JobSummary",
    "TimelineEntry",
]


@attrs.frozen
class ErrorInfo:
    """Why a job failed: the typed error's class, its message, the vendor's code if any."""

    type: str
    message: str
    code: str | None = None


@attrs.frozen
class JobSummary:
    """One job in a list. `ref` names it in the source; `job_id` is the vendor's, once
    known (an intent recorded before its create has none)."""

    ref: str
    provider: str
    status: str
    title: str
    created_at: datetime | None = None
    updated_at: datetime | None = None
    job_id: str | None = None
    batch: str | None = None
    key: str | None = None
    error: ErrorInfo | None = None

    @property
    def retryable(self) -> bool:
        """An operator may submit a failed or expired job's request again."""
        return self.status in {"failed", "expired", "cancelled", "unknown"}


@attrs.frozen
class TimelineEntry:
    """One snapshot of a job, as it was observed."""

    at: datetime | None
    status: str
    vendor_status: str | None = None
    progress: float | None = None
    message: str | None = None


@attrs.frozen
class JobDetail:
    summary: JobSummary
    request: Mapping[str, Any] = attrs.field(factory=dict)
    timeline: Sequence[TimelineEntry] = ()
    result: Result | None = None
    token: str | None = None


@attrs.frozen
class JobQuery:
    """Filters of the job list; None means any."""

    status: str | None = None
    provider: str | None = None
    batch: str | None = None
    limit: int = 500


class DashboardSource(Protocol):
    """The read interface of the dashboard, plus the one thing an operator may do."""

    async def jobs(self, query: JobQuery) -> Sequence[JobSummary]:
        """Jobs matching `query`, newest first."""
        ...

    async def job(self, ref: str) -> JobDetail | None:
        """One job with its timeline and result; None if the source has no such job."""
        ...

    async def samples(self) -> Sequence[FleetSample]:
        """Every batch's fleet samples, oldest first."""
        ...

    async def retry(self, ref: str) -> str:
        """Submit a failed job's request again; returns the new job's ref."""
        ...
