"""Store fixtures: a SQLite file per test, and a PostgreSQL schema per test (dropped after).

PostgreSQL is the machine's server at 127.0.0.1:5432. When it cannot be reached the
tests that need it skip, saying why; with `COURSEGEN_REQUIRE_SERVICES=1` (CI) they fail.
"""

from __future__ import annotations

import os
import uuid

import pytest

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def _unreachable(reason: str) -> None:
    if os.environ.get("COURSEGEN_REQUIRE_SERVICES") == "1":
        pytest.fail(f"PostgreSQL is required (COURSEGEN_REQUIRE_SERVICES=1): {reason}")
    pytest.skip(f"no PostgreSQL at 127.0.0.1:5432: {reason}")


@pytest.fixture
def postgres_store_url():
    """A store URL on a schema of its own in the local PostgreSQL, dropped afterwards."""
    psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed")
    schema = f"cg_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(POSTGRES, connect_timeout=3, autocommit=True)
    except psycopg.OperationalError as exc:
        _unreachable(str(exc).strip().splitlines()[0])
    with admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            yield f"{POSTGRES}?schema={schema}"
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def sqlite_store_url(tmp_path):
    """A store URL on a fresh SQLite file."""
    return f"sqlite:///{tmp_path / 'jobs.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request):
    """Each store driver in turn: the same test runs on SQLite and on PostgreSQL."""
    return request.getfixturevalue(f"{request.param.replace('postgresql', 'postgres')}_store_url")
