"""A scope owner's handover waits for its creates in flight without polling the store.

On the virtual clock: the owner is told when its last create ends (`Durability.quiet`),
reads the store once then, and re-reads it only every `rescan` seconds while the store
still shows a create it did not send.
"""

from __future__ import annotations

from types import SimpleNamespace

import anyio
import pytest

from coursegen._durable import Durability
from coursegen.store import SubmitState
from coursegen.worker import _drain

pytestmark = pytest.mark.anyio


class _Store:
    """The store calls `_drain` makes, counted; `sending` is what it shows as SENDING."""

    def __init__(self) -> None:
        self.reads = 0
        self.sending: list[SimpleNamespace] = []

    async def jobs(self, *, provider=None, state=None, **_):
        assert state is SubmitState.SENDING
        self.reads += 1
        return list(self.sending)


RUNTIME = SimpleNamespace(name="tutorflow", endpoint="api.example", time_scale=1.0)


async def test_a_handover_waits_for_its_creates_without_reading_the_store():
    """While the owner's own create is on the wire (an hour here), `_drain` reads the
    store not once; when it ends, one read confirms nothing is left, and it returns."""
    store = _Store()
    durable = Durability(store)  # type: ignore[arg-type]
    durable.began_sending()
    ended = anyio.Event()

    async def drain() -> None:
        await _drain(durable, store, RUNTIME, "scope", rescan=2.0)  # type: ignore[arg-type]
        ended.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(drain)
        await anyio.sleep(3600)
        assert store.reads == 0
        assert not ended.is_set()
        durable.ended_sending()
        await ended.wait()
    assert store.reads == 1


async def test_a_create_the_owner_did_not_send_is_reread_slowly():
    """A SENDING row of another sender keeps the handover waiting, re-reading the store
    every `rescan` seconds (the safety net), not in a tight loop."""
    store = _Store()
    store.sending = [SimpleNamespace(endpoint="api.example", scope="scope")]
    durable = Durability(store)  # type: ignore[arg-type]
    with anyio.move_on_after(60):
        await _drain(durable, store, RUNTIME, "scope", rescan=2.0)  # type: ignore[arg-type]
    assert 25 <= store.reads <= 31
    store.sending = []
    await _drain(durable, store, RUNTIME, "scope", rescan=2.0)  # type: ignore[arg-type]
