"""The job store: the one durable record of every job a client creates or follows.

```python
async with coursegen.connect("learningstudio://KEY@...", store="sqlite:///jobs.db") as client:
    job = await client.submit(request)   # an intent row is committed before the create
```

A store is opened from a URL: `sqlite:///relative/path.db`, `sqlite:////absolute/path.db`
(the stdlib driver, nothing to install) or `postgresql://user:password@host/db`
(`pip install coursegen[postgres]`; `?schema=NAME` keeps the tables in one schema,
`?pool_size=N` keeps up to N connections open, 4 by default).
The client writes to it what its engine sees; `Client.jobs()`/`Client.job()` and the
`coursegen jobs` command read it back from any process. The password of a store URL is
a secret: `Store.url` and every error show it masked.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from coursegen._errors import ConfigurationError

from ._base import (
    HistoryEntry,
    JobRecord,
    OwnershipLost,
    SnapshotUpdate,
    SQLStore,
    SubmitState,
)
from ._schema import LATEST

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime

    from coursegen._models import JobStatus, Request, Snapshot

__all__ = [
    "LATEST",
    "HistoryEntry",
    "JobRecord",
    "OwnershipLost",
    "SQLStore",
    "SnapshotUpdate",
    "Store",
    "SubmitState",
    "default_store_url",
    "masked_url",
    "open_store",
]

_MASK = "********"


@runtime_checkable
class Store(Protocol):
    """What a client needs of a store (both built-in drivers implement it)."""

    url: str
    statements: int

    async def open(self) -> None:
        """Connect and bring the schema up to date (forward only)."""
        ...

    async def close(self) -> None:
        """Close the connections; the store can be opened again."""
        ...

    async def schema_version(self) -> int:
        """The number of the newest migration applied."""
        ...

    async def add_intent(
        self,
        *,
        record_id: str,
        provider: str,
        endpoint: str,
        scope: str,
        request: Request,
        notify: str | None = None,
    ) -> None:
        """Record a create before it is sent: the request, where it goes, whose key
        (`notify`: a fleet's scope key, whose workers are woken in the same commit)."""
        ...

    async def mark_sending(
        self, record_id: str, *, from_state: SubmitState = SubmitState.PENDING
    ) -> bool:
        """The create is about to leave (from `from_state`); False if another took it."""
        ...

    async def mark_submitted(self, record_id: str, snapshot: Snapshot) -> None:
        """The vendor's id for the job, as soon as it is known (committed durably)."""
        ...

    async def mark_outcome(self, record_id: str, state: SubmitState, error: str | None) -> None:
        """A create that ended without a vendor id: `UNKNOWN` or `REFUSED`, and why."""
        ...

    async def save(self, updates: Sequence[SnapshotUpdate]) -> None:
        """Write the latest snapshots, in one transaction."""
        ...

    async def adopt(self, *, record_id: str, endpoint: str, scope: str, snapshot: Snapshot) -> str:
        """Record a job this store did not see created (resumed by token); its id."""
        ...

    async def record_event(self, provider: str, event_key: str) -> bool:
        """Remember a webhook delivery; False if it was recorded before (a duplicate)."""
        ...

    async def get(self, record_id: str) -> JobRecord | None:
        """The record with this store id, or None."""
        ...

    async def find(self, provider: str, endpoint: str, job_id: str) -> JobRecord | None:
        """The record of a vendor job, by the vendor's id."""
        ...

    async def lookup(self, any_id: str) -> list[JobRecord]:
        """Records whose store id or vendor id is `any_id` (several vendors may share one)."""
        ...

    async def jobs(
        self,
        *,
        provider: str | None = None,
        status: JobStatus | str | None = None,
        state: SubmitState | None = None,
        limit: int | None = None,
    ) -> list[JobRecord]:
        """Records, newest first, filtered by provider, status or submit state."""
        ...

    async def unfinished(self, provider: str, endpoint: str, scope: str) -> list[JobRecord]:
        """What a client of this provider, endpoint and key scope must recover, oldest first."""
        ...

    async def pending(self, provider: str, endpoint: str, scope: str) -> list[JobRecord]:
        """Creates recorded for this provider, endpoint and scope, not sent yet: oldest first."""
        ...

    async def get_many(self, record_ids: Sequence[str]) -> dict[str, JobRecord]:
        """The records of many store ids, in few statements (a fleet's handles read so)."""
        ...

    async def history(self, record_id: str) -> list[HistoryEntry]:
        """Every change written for a job, oldest first: its timeline."""
        ...

    async def add_sample(self, batch: str, taken_at: datetime, sample: str) -> None:
        """Record a batch's fleet figures (JSON) at one moment (see `coursegen batch`)."""
        ...

    async def samples(self) -> list[str]:
        """Every batch's fleet samples (JSON), oldest first."""
        ...


def masked_url(url: str) -> str:
    """`url` with its password (if any) replaced by a mask, for messages and reprs."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<a store URL that cannot be parsed>"
    if not password:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:{_MASK}@{netloc[-1]}"))


def default_store_url(environ: Mapping[str, str] | None = None) -> str:
    """The CLI's store: `jobs.db` in the user's data folder.

    `$XDG_DATA_HOME/coursegen` (else `~/.local/share/coursegen`) on Linux and other
    Unix, `~/Library/Application Support/coursegen` on macOS, and
    `%LOCALAPPDATA%\\coursegen` on Windows.
    """
    env = os.environ if environ is None else environ
    home = Path.home()
    if sys.platform == "win32":
        base = Path(env.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(env.get("XDG_DATA_HOME") or home / ".local" / "share")
    return f"sqlite:///{(base / 'coursegen' / 'jobs.db').as_posix()}"


def open_store(url: str | os.PathLike[str]) -> SQLStore:
    """The store a URL names (not opened yet: `await store.open()`, or `async with`)."""
    text = os.fspath(url)
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme == "sqlite":
        from ._sqlite import SQLiteStore  # noqa: PLC0415 - each driver loads on demand

        path = text.split("://", 1)[1]
        if not path.startswith("/") or path == "/":
            raise ConfigurationError(
                "a SQLite store URL is sqlite:///relative/path.db or sqlite:////absolute/path.db"
            )
        return SQLiteStore(unquote(path[1:]))
    if scheme in ("postgresql", "postgres"):
        from ._postgres import PostgresStore  # noqa: PLC0415 - needs the postgres extra

        parts = urlsplit(text)
        query = dict(parse_qsl(parts.query))
        schema = query.pop("schema", None)
        pool_size = query.pop("pool_size", None)
        conninfo = urlunsplit(parts._replace(scheme="postgresql", query=urlencode(query)))
        store = PostgresStore(
            conninfo,
            display_url=masked_url(text),
            password=unquote(parts.password) if parts.password else None,
            schema=schema,
        )
        if pool_size is not None:
            if not pool_size.isdigit():
                raise ConfigurationError(f"pool_size must be a whole number, not {pool_size!r}")
            store.configure_pool(size=int(pool_size))
        return store
    raise ConfigurationError(
        f"unknown store URL {masked_url(text)!r}: use sqlite:///path.db or postgresql://..."
    )
