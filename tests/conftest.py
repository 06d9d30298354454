"""Every async test runs twice: on asyncio, and on trio with a virtual clock.

Trio's MockClock with autojump_threshold=0 jumps over every sleep once all tasks are
blocked, so minutes of vendor time pass in milliseconds (sandbox and client read time
only from the event loop). asyncio has no virtual clock: tests that wait on vendor time
there use the sandbox's `speed` knob.
"""

from __future__ import annotations

import pytest
import trio.testing


@pytest.fixture(
    params=[
        pytest.param(("asyncio", {}), id="asyncio"),
        pytest.param(("trio", {"clock": None}), id="trio"),
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, object]]:
    name, options = request.param
    if name == "trio":
        # A new clock per test: a clock carries its virtual time with it.
        return name, {"clock": trio.testing.MockClock(autojump_threshold=0)}
    return name, options
