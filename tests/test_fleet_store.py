"""The fleet's store side: owner epochs fence writes; fleet handles read the store.

The worker processes themselves are exercised by `test_fleet.py`; here each piece is
checked on its own, on both store drivers where it does not need PostgreSQL.
"""

from __future__ import annotations

import anyio
import pytest

import coursegen
import coursegen.sync
from coursegen import CourseRequest, FleetJob, PermissionDenied, StoreError, SubmitState
from coursegen.store import OwnershipLost, open_store
from coursegen_tutorflow.sandbox import DEMO_KEY, DEMO_WORKSPACE, ApiKey, TutorFlowSandbox

pytestmark = [pytest.mark.anyio, pytest.mark.real_clock]


async def test_a_successors_epoch_fences_the_old_owner_out(store_url) -> None:
    """After a takeover, the old owner's next write fails and changes nothing."""
    async with open_store(store_url) as store:
        first = store.fenced("scope-a", await store.take_ownership("scope-a", "w1"))
        await first.add_intent(
            record_id="r1", provider="p", endpoint="h", scope="s", request=CourseRequest("x")
        )
        second_epoch = await store.take_ownership("scope-a", "w2")
        second = store.fenced("scope-a", second_epoch)
        with pytest.raises(OwnershipLost):
            await first.mark_sending("r1")
        assert first.fence_lost
        record = await store.get("r1")
        assert record is not None
        assert record.state is SubmitState.PENDING
        assert await second.mark_sending("r1")
        owners = await store.owners()
        assert [(scope, owner, epoch) for scope, owner, epoch, _ in owners] == [
            ("scope-a", "w2", second_epoch)
        ]


async def test_a_refused_create_reaches_the_fleet_handle_as_its_typed_error(
    postgres_store_url,
) -> None:
    """A create the vendor refuses (403, a read-only key) is raised by the handle that
    recorded it, as `PermissionDenied`, once the scope's owner has sent it."""
    simulator = TutorFlowSandbox(keys={DEMO_KEY: ApiKey(DEMO_WORKSPACE, read_only=True)})
    async with (
        simulator,
        coursegen.connect(
            "tutorflow", sandbox=simulator, store=postgres_store_url, fleet=True
        ) as web,
    ):
        job = await web.submit(CourseRequest(subject="Refused course"))
        assert isinstance(job, FleetJob)
        assert simulator.requests == []  # a fleet submit sends nothing itself
        # The owner: a client of the same store, provider, endpoint and key takes it up.
        async with coursegen.connect("tutorflow", sandbox=simulator, store=postgres_store_url):
            with pytest.raises(PermissionDenied):
                await job.wait(timeout=30)
        assert job.record is not None
        assert job.record.state is SubmitState.REFUSED


def test_the_sync_facade_submits_to_the_fleet_the_same_way(postgres_store_url) -> None:
    """`coursegen.sync.connect(..., fleet=True)` records an intent and sends nothing."""
    with coursegen.sync.connect(
        "tutorflow", sandbox=True, store=postgres_store_url, fleet=True
    ) as client:
        job = client.submit(CourseRequest(subject="Queued for the fleet"))
        assert isinstance(job.job, FleetJob)
        assert client.sandbox is not None
        assert client.sandbox.requests == []

    async def read():
        async with open_store(postgres_store_url) as store:
            return await store.get(job.id)

    record = anyio.run(read)
    assert record is not None
    assert record.state is SubmitState.PENDING


async def test_intents_recorded_at_once_share_a_commit(store_url) -> None:
    """Twenty intents recorded at once (a web process's concurrent submits) are committed
    in a few transactions, not twenty, and each is in the store afterwards."""
    async with open_store(store_url) as store:
        transactions = 0
        write = store._write

        async def counted(statements, *, durable):
            nonlocal transactions
            transactions += 1
            return await write(statements, durable=durable)

        store._write = counted  # type: ignore[method-assign]

        async def one(number: int) -> None:
            await store.add_intent(
                record_id=f"r{number}",
                provider="p",
                endpoint="h",
                scope="s",
                request=CourseRequest(f"course {number}"),
            )

        async with anyio.create_task_group() as tg:
            for number in range(20):
                tg.start_soon(one, number)
        assert transactions <= 3
        found = await store.get_many([f"r{number}" for number in range(20)])
        assert len(found) == 20


async def test_an_intent_whose_key_is_taken_fails_alone_in_its_group(store_url) -> None:
    """In a group of intents committed together, the one whose key is already in the
    store raises `StoreError`; the others are recorded."""
    async with open_store(store_url) as store:
        await store.add_intent(
            record_id="r7", provider="p", endpoint="h", scope="s", request=CourseRequest("x")
        )
        outcomes: dict[int, bool] = {}

        async def one(number: int) -> None:
            try:
                await store.add_intent(
                    record_id=f"r{number}",
                    provider="p",
                    endpoint="h",
                    scope="s",
                    request=CourseRequest(f"course {number}"),
                )
            except StoreError:
                outcomes[number] = False
            else:
                outcomes[number] = True

        async with anyio.create_task_group() as tg:
            for number in range(20):
                tg.start_soon(one, number)
        assert outcomes == {number: number != 7 for number in range(20)}
        found = await store.get_many([f"r{number}" for number in range(20)])
        assert len(found) == 20
