"""The PostgreSQL driver: psycopg 3 with a psycopg_pool pool, called from worker threads.

Needs the `postgres` extra (`pip install coursegen[postgres]`). The shared statements use
`?` placeholders; `placeholders` turns them into psycopg's `%s`, here and nowhere else.
Snapshot batches commit with `synchronous_commit = off` (a crash of the database server
may lose the last ones; recovery reads them again from the vendor); creates and vendor
ids commit normally. `?schema=NAME` in the URL keeps the tables in that schema.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from coursegen._errors import StoreError

from ._base import SQLStore

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from ._base import Cursor

__all__ = ["INTENTS_CHANNEL", "PostgresStore", "placeholders"]

INTENTS_CHANNEL = "coursegen_intents"
"""Where a fleet submit announces a new intent (the payload is its scope key)."""

_CONNECT_TIMEOUT = 10  # seconds
_MIGRATION_LOCK = 0x636F_7572_7365  # "course": one advisory lock for schema changes
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def placeholders(sql: str) -> str:
    """A shared statement in psycopg's parameter style (`?` -> `%s`)."""
    return sql.replace("%", "%%").replace("?", "%s")


class _Cursor:
    """A psycopg cursor that takes the shared statements as they are written."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return int(self._cursor.rowcount)

    def execute(self, sql: str, params: Sequence[object] = ()) -> object:
        return self._cursor.execute(placeholders(sql), tuple(params))

    def fetchall(self) -> list[tuple[Any, ...]]:
        return list(self._cursor.fetchall())


class PostgresStore(SQLStore):
    def __init__(
        self, conninfo: str, *, display_url: str, password: str | None, schema: str | None
    ) -> None:
        try:
            import psycopg  # noqa: PLC0415 - optional: only this driver needs it
            import psycopg_pool  # noqa: PLC0415 - checked here, used on open
        except ImportError as exc:
            raise StoreError(
                "a PostgreSQL store needs psycopg: install coursegen[postgres]"
            ) from exc
        super().__init__(display_url, password=password)
        if schema is not None and not _IDENTIFIER.fullmatch(schema):
            raise StoreError(f"schema must be a plain SQL name, not {schema!r}")
        self.driver_errors = (psycopg.Error, psycopg_pool.PoolTimeout)
        self._conninfo = conninfo
        self._schema = schema
        self._pool: Any = None
        # Connections kept open, and how long a statement waits for one before it fails
        # (a database gone must fail writes, not hang them): see `configure_pool`.
        self.pool_size = 4
        self.pool_timeout = 30.0

    def configure_pool(self, *, size: int | None = None, timeout: float | None = None) -> None:
        """Set the pool's size and its wait for a connection (seconds), before `open`."""
        if size is not None:
            if size < 1:
                raise StoreError("a store's pool needs at least one connection")
            self.pool_size = size
        if timeout is not None:
            self.pool_timeout = timeout

    def _open_sync(self) -> None:
        import psycopg  # noqa: PLC0415 - optional dependency
        import psycopg_pool  # noqa: PLC0415 - optional dependency

        # One plain connection first: a wrong host or password fails now, with the
        # server's reason, instead of the pool retrying until its timeout.
        psycopg.connect(self._conninfo, connect_timeout=_CONNECT_TIMEOUT).close()

        schema = self._schema

        def configure(connection: Any) -> None:
            if schema is not None:
                connection.execute(f'SET search_path TO "{schema}"')
                connection.commit()

        pool = psycopg_pool.ConnectionPool(
            self._conninfo,
            min_size=1,
            max_size=self.pool_size,
            open=False,
            configure=configure,
            timeout=self.pool_timeout,
        )
        try:
            pool.open(wait=True, timeout=10.0)
        except BaseException:
            pool.close()
            raise
        self._pool = pool

    def _close_sync(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    @contextmanager
    def _transaction(self, *, durable: bool, read_only: bool = False) -> Iterator[Cursor]:
        if self._pool is None:
            raise StoreError(f"the store at {self.url} is not open")
        with self._pool.connection() as connection, connection.transaction():
            cursor = connection.cursor()
            try:
                if not (durable or read_only):
                    cursor.execute("SET LOCAL synchronous_commit TO OFF")
                yield _Cursor(cursor)
            finally:
                cursor.close()

    postgres = True
    _share_lock = " FOR SHARE"

    def _intent_notice(self, scope_key: str) -> tuple[str, Sequence[object]]:
        return "SELECT pg_notify(?, ?)", (INTENTS_CHANNEL, scope_key)

    def _migration_lock(self, cursor: Cursor) -> None:
        cursor.execute("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))
