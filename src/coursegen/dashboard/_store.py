"""`StoreSource`: the dashboard over a job store, as any process wrote it."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from coursegen._batch import attempt_key
from coursegen._errors import ConfigurationError
from coursegen._json import from_json, to_json
from coursegen.store import SubmitState

from ._source import ErrorInfo, FleetSample, JobDetail, JobQuery, JobSummary, TimelineEntry

if TYPE_CHECKING:
    from collections.abc import Sequence

    from coursegen._client import Client
    from coursegen.store import JobRecord, Store

__all__ = ["StoreSource"]

# A batch row's store id: `<batch>.<digest>.<copy>`, and `~<attempt>` after the first.
_BATCH_KEY = re.compile(r"^(?P<batch>[a-z0-9-]+)\.[0-9a-f]{20}\.\d+(?:~(?P<attempt>\d+))?$")
_LIST_LIMIT = 5000


class StoreSource:
    """Reads jobs, timelines and fleet samples from `store`; retries through `client`.

    Without a client (the dashboard started without `--provider`) a retry is refused
    with a message saying so; the pages stay read-only.
    """

    def __init__(self, store: Store, *, client: Client | None = None) -> None:
        self.store = store
        self.client = client

    async def jobs(self, query: JobQuery) -> Sequence[JobSummary]:
        records = await self.store.jobs(provider=query.provider, limit=_LIST_LIMIT)
        summaries = [_summary(record) for record in records]
        return [
            job
            for job in summaries
            if (query.status is None or job.status == query.status)
            and (query.batch is None or job.batch == query.batch)
        ][: query.limit]

    async def job(self, ref: str) -> JobDetail | None:
        record = await self.store.get(ref)
        if record is None:
            return None
        history = await self.store.history(ref)
        timeline = [
            TimelineEntry(
                at=entry.observed_at,
                status=entry.status.value,
                vendor_status=entry.vendor_status,
                progress=entry.progress,
                message=entry.error,
            )
            for entry in history
        ]
        return JobDetail(
            summary=_summary(record),
            request=_request_fields(record),
            timeline=timeline,
            result=record.result,
            token=record.token,
        )

    async def samples(self) -> Sequence[FleetSample]:
        return [from_json(text, FleetSample) for text in await self.store.samples()]

    async def retry(self, ref: str) -> str:
        """Submit a failed job's request again, as its row's next attempt."""
        record = await self.store.get(ref)
        if record is None or record.request is None:
            raise ConfigurationError(f"the store holds no request for job {ref!r}")
        client = self.client
        if client is None:
            raise ConfigurationError(
                "this dashboard was started without --provider: it cannot submit a retry"
            )
        if client.provider != record.provider:
            raise ConfigurationError(
                f"job {ref!r} is a {record.provider} job; this dashboard submits to "
                f"{client.provider}"
            )
        base, attempt = _attempt_of(ref)
        while await self.store.get(attempt_key(base, attempt + 1)) is not None:
            attempt += 1
        key = attempt_key(base, attempt + 1)
        await client.submit(record.request, key=key)
        return key


def _attempt_of(ref: str) -> tuple[str, int]:
    base, sep, number = ref.rpartition("~")
    if sep and number.isdigit():
        return base, int(number)
    return ref, 1


def _status(record: JobRecord) -> str:
    if record.state in (SubmitState.PENDING, SubmitState.SENDING):
        return "pending"
    if record.state is SubmitState.UNKNOWN:
        return "unknown"
    if record.state is SubmitState.REFUSED:
        return "failed"
    return record.status.value if record.status is not None else "pending"


def _error(record: JobRecord) -> ErrorInfo | None:
    snapshot = record.snapshot
    if record.state in (SubmitState.REFUSED, SubmitState.UNKNOWN):
        kind, _, message = (record.last_error or "").partition(": ")
        return ErrorInfo(type=kind or "SubmitOutcomeUnknown", message=message or kind)
    if snapshot is not None and snapshot.status.is_terminal and snapshot.error is not None:
        kind = "JobExpired" if snapshot.status.value == "expired" else "JobFailed"
        return ErrorInfo(type=kind, message=snapshot.error.message, code=snapshot.error.code)
    if snapshot is not None and snapshot.status.is_terminal and snapshot.result is None:
        kind = "JobExpired" if snapshot.status.value == "expired" else "JobFailed"
        return ErrorInfo(type=kind, message="no reason given")
    return None


def _summary(record: JobRecord) -> JobSummary:
    match = _BATCH_KEY.match(record.id)
    return JobSummary(
        ref=record.id,
        provider=record.provider,
        status=_status(record),
        title=record.title or record.job_id or record.id,
        created_at=record.created_at,
        updated_at=record.updated_at,
        job_id=record.job_id,
        batch=match.group("batch") if match else None,
        key=record.id if match else None,
        error=_error(record),
    )


def _request_fields(record: JobRecord) -> dict[str, Any]:
    """The request's fields that say something (set, not empty), for the job's page."""
    if record.request is None:
        return {}
    data = json.loads(to_json(record.request))
    return {
        name: value
        for name, value in data.items()
        if value not in (None, "", [], {}) and name != "idempotency_key"
    }
