"""Every async test, in tests/ and providers/, runs twice: on asyncio, and on trio.

Trio runs on a MockClock with autojump_threshold=0: it jumps over every sleep once all
tasks are blocked, so minutes of vendor time pass in milliseconds (sandbox and client
read time only from the event loop). asyncio has no virtual clock: tests that wait on
vendor time there use the sandbox's `speed` knob.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio.testing


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    if request.param == "trio":
        # A new clock per test: a clock carries its virtual time with it.
        return "trio", {"clock": trio.testing.MockClock(autojump_threshold=0)}
    return "asyncio", {}
