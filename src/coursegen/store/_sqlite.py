"""The SQLite driver: stdlib `sqlite3`, one connection, WAL, called from worker threads.

WAL lets readers in other processes (`coursegen jobs`) read while a client writes.
Creates and vendor ids are committed with `synchronous=FULL` (on disk before the create
is sent); snapshot batches with `NORMAL`, which in WAL mode survives a process crash
and only risks the last batch on a power cut (recovery reads those again from the vendor).
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from coursegen._errors import StoreError

from ._base import SQLStore

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ._base import Cursor

__all__ = ["SQLiteStore"]

_BUSY_TIMEOUT_MS = 10_000  # another process holding the write lock: wait, don't fail


class SQLiteStore(SQLStore):
    driver_errors = (sqlite3.Error,)

    def __init__(self, path: str) -> None:
        super().__init__(f"sqlite:///{path}")
        self.path = path
        self._connection: sqlite3.Connection | None = None
        # One connection, used by one worker thread at a time.
        self._lock = threading.Lock()
        self._synchronous: str | None = None

    def _open_sync(self) -> None:
        if self.path != ":memory:":
            try:
                Path(self.path).expanduser().parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot make the folder of {self.url}: {exc.strerror}") from None
        connection = sqlite3.connect(
            Path(self.path).expanduser() if self.path != ":memory:" else self.path,
            isolation_level=None,  # transactions are explicit: BEGIN IMMEDIATE ... COMMIT
            check_same_thread=False,  # worker threads take turns under `_lock`
            timeout=_BUSY_TIMEOUT_MS / 1000,
        )
        connection.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        connection.execute("PRAGMA journal_mode = WAL")
        self._connection = connection

    def _close_sync(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    @contextmanager
    def _transaction(self, *, durable: bool, read_only: bool = False) -> Iterator[Cursor]:
        with self._lock:
            connection = self._connection
            if connection is None:
                raise StoreError(f"the store at {self.url} is not open")
            synchronous = "FULL" if durable else "NORMAL"
            if not read_only and synchronous != self._synchronous:
                connection.execute(f"PRAGMA synchronous = {synchronous}")
                self._synchronous = synchronous
            cursor = connection.cursor()
            # A writer takes the write lock up front, so two processes never deadlock
            # upgrading a read lock; a reader does not stand in writers' way.
            cursor.execute("BEGIN" if read_only else "BEGIN IMMEDIATE")
            try:
                yield cursor
            except BaseException:
                connection.rollback()
                raise
            else:
                cursor.execute("COMMIT")
            finally:
                cursor.close()
