"""Every async test, in tests/ and providers/, runs twice: on asyncio, and on trio.

Both run on virtual time (`coursegen.testing.virtual_backend`): trio on an autojumping
MockClock, asyncio on a `VirtualClockEventLoop`. The clock moves only when every task is
idle, so minutes of vendor time pass in milliseconds and every timing assertion is exact
whatever the machine's load (sandbox and client read time only from the event loop).

A test that talks to another process (a sandbox served on loopback) is marked
`real_clock`: it runs on the real clock and asserts outcomes, never durations.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

# The kit is loaded as a plugin below (its fixtures, for providers' tests): its asserts
# are rewritten like a test's, which must be asked for before it is first imported.
pytest.register_assert_rewrite("coursegen.testing")

from coursegen.testing import real_backend, virtual_backend  # noqa: E402 - after the rewrite hook

# Sandboxes made without a seed draw one at random (new ids every run, as integrators
# need); the suite replays one vendor instead, so no outcome depends on the draw.
os.environ.setdefault("COURSEGEN_SANDBOX_SEED", "0")

# A third party's provider package, tested where it is installed (`nox -s pip_install`).
collect_ignore = ["tests/fixtures"]
# Store fixtures (a SQLite file, a PostgreSQL schema, each driver in turn): tests/stores.py;
# the provider test kit (`no_requests_built` and the other fixtures of coursegen.testing).
pytest_plugins = ["stores", "coursegen.testing"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "real_clock: run on the real clock (the test talks to another process)"
    )


@pytest.fixture(autouse=True)
def _private_data_folder(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keep the CLI's default job store (the user's data folder) out of the real home."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("data")))
    monkeypatch.delenv("COURSEGEN_STORE", raising=False)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    if request.node.get_closest_marker("real_clock") is not None:
        return real_backend(request.param)
    return virtual_backend(request.param)
