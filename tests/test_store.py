"""The job store: migrations, intents, recovery, on SQLite and PostgreSQL alike.

Every test here runs once per driver (`store_url`), through the same code: the drivers
share one schema and one set of statements, so they must behave the same.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

import coursegen
from coursegen import (
    CourseRequest,
    JobStatus,
    Snapshot,
    StoreError,
    SubmitState,
    open_store,
)

pytestmark = pytest.mark.anyio

CALLBACK = "https://lms.example/hooks"


def _sandbox(provider: str):
    """A simulator whose webhooks are received (answered 200) by a mock, not the network."""
    factory = coursegen.default_registry().get(provider).sandbox
    assert factory is not None
    return factory(webhook_transport=httpx.MockTransport(lambda _: httpx.Response(200)))


def _creates(simulator) -> int:
    return sum(1 for r in simulator.requests if r.method == "POST" and r.status in (200, 201, 202))


async def _leave_intent(
    provider: str, simulator, store_url: str, request: CourseRequest, *, sending: bool
):
    """Leave in the store an intent "cut" (PENDING, or SENDING: caught mid-send) next to
    a probe job submitted normally, which tells the endpoint and key scope, as a process
    that died would; returns the probe's record. Nobody waits, so nothing is polled."""
    async with coursegen.connect(
        provider, sandbox=simulator, store=store_url, keep_results=False
    ) as first:
        probe = await first.job((await first.submit(CourseRequest("Probe"))).id)
        assert probe is not None
        await first.store.add_intent(
            record_id="cut",
            provider=probe.provider,
            endpoint=probe.endpoint,
            scope=probe.scope,
            request=request,
        )
        if sending:
            await first.store.mark_sending("cut")
    return probe


async def _all(store_url: str):
    async with open_store(store_url) as store:
        return await store.jobs()


async def test_a_new_store_is_migrated_to_the_latest_version_once(store_url) -> None:
    """Opening migrates a new store; opening again changes nothing and keeps the rows."""
    async with open_store(store_url) as store:
        assert await store.schema_version() == coursegen.store.LATEST
        await store.add_intent(
            record_id="r1", provider="p", endpoint="h", scope="s", request=CourseRequest("x")
        )
    async with open_store(store_url) as again:
        assert await again.schema_version() == coursegen.store.LATEST
        assert [record.id for record in await again.jobs()] == ["r1"]


async def test_a_store_from_a_newer_coursegen_is_refused(store_url) -> None:
    """A schema version this code does not know is refused, not guessed at."""
    async with open_store(store_url) as store:
        await store._write(
            [("INSERT INTO coursegen_schema (version, applied_at) VALUES (?, ?)", (99, "later"))],
            durable=True,
        )
    with pytest.raises(StoreError, match="schema version 99"):
        async with open_store(store_url):
            pass


async def test_a_create_moves_through_its_states_and_is_read_back(store_url) -> None:
    """Intent, sending, submitted, result: each step is readable by another store object."""
    request = CourseRequest("Ladders", idempotency_key="k1")
    async with open_store(store_url) as store, open_store(store_url) as reader:
        await store.add_intent(
            record_id="r1", provider="p", endpoint="h", scope="s", request=request
        )
        pending = await reader.get("r1")
        assert pending is not None
        assert (pending.state, pending.request, pending.idempotency_key) == (
            SubmitState.PENDING,
            request,
            "k1",
        )
        await store.mark_sending("r1")
        first = Snapshot(job_id="j1", provider="p", status=JobStatus.PENDING)
        await store.mark_submitted("r1", first)
        course = coursegen.Course(id="c1", title="Ladders")
        done = Snapshot(job_id="j1", provider="p", status=JobStatus.SUCCEEDED, result=course)
        await store.save([coursegen.store.SnapshotUpdate("r1", done, None, following=False)])
        [record] = await reader.jobs(status=JobStatus.SUCCEEDED)
        assert (record.state, record.job_id, record.result, record.following) == (
            SubmitState.SUBMITTED,
            "j1",
            course,
            False,
        )
        assert (await reader.find("p", "h", "j1")) == record
        assert await reader.unfinished("p", "h", "s") == []
        assert await reader.jobs(status="running") == []


async def test_a_webhook_delivery_is_recorded_once(store_url) -> None:
    """The same event key is new the first time only (vendor retries are duplicates)."""
    async with open_store(store_url) as store:
        assert await store.record_event("tutorflow", "evt-1")
        assert not await store.record_event("tutorflow", "evt-1")
        assert await store.record_event("learningstudio", "evt-1")


async def test_a_job_left_running_is_followed_again_by_the_next_client(store_url) -> None:
    """A job whose client closed mid-way is taken up on open; its result lands in the store."""
    simulator = _sandbox("learningstudio")
    # keep_results=False: nobody waits, so the first client never polls; the job is
    # still running when it closes, however long the store's writes take.
    async with coursegen.connect(
        "learningstudio", sandbox=simulator, store=store_url, keep_results=False
    ) as first:
        job = await first.submit(CourseRequest("Scaffolds"))
    async with coursegen.connect("learningstudio", sandbox=simulator, store=store_url) as second:
        [again] = await second.recovered()
        assert again.id == job.id
        course = await again.result()
    async with coursegen.connect("learningstudio", sandbox=simulator, store=store_url) as third:
        asked = len(simulator.requests)
        record = await third.job(job.id)
        assert await third.recovered() == []  # nothing left to follow
    assert record is not None
    assert record.result == course
    assert len(simulator.requests) == asked  # read from the store: no vendor call


async def test_an_intent_never_sent_is_sent_on_open(store_url) -> None:
    """A create recorded but never sent (its process died waiting) is sent by the next client."""
    simulator = _sandbox("learningstudio")
    await _leave_intent(
        "learningstudio", simulator, store_url, CourseRequest("Guardrails"), sending=False
    )
    async with coursegen.connect("learningstudio", sandbox=simulator, store=store_url) as second:
        jobs = await second.recovered()
        results = {(await job.result()).title for job in jobs}
        record = await second.job("cut")
    assert results == {"Probe", "Guardrails"}
    assert record is not None
    assert record.state is SubmitState.SUBMITTED
    assert _creates(simulator) == 2


async def test_a_create_cut_off_is_resent_with_its_key_where_the_vendor_dedupes(store_url) -> None:
    """TutorFlow: a create caught mid-send is re-sent with its stored key: one job, not two."""
    simulator = _sandbox("tutorflow")
    request = CourseRequest("Rigging", idempotency_key="rigging-1")
    async with coursegen.connect("tutorflow", sandbox=simulator) as plain:
        original = await plain.submit(request)  # the vendor got it; the answer "was lost"
    probe = await _leave_intent("tutorflow", simulator, store_url, request, sending=True)
    async with coursegen.connect("tutorflow", sandbox=simulator, store=store_url) as second:
        await second.recovered()
        record = await second.job("cut")
    assert record is not None
    assert (record.state, record.job_id) == (SubmitState.SUBMITTED, original.id)
    stored = sorted(str(record.job_id) for record in await _all(store_url))
    assert stored == sorted([original.id, str(probe.job_id)])  # the resend made no new job


async def test_a_create_cut_off_without_dedupe_is_unknown_until_its_webhook(store_url) -> None:
    """LearningStudioAI: a cut-off create is UNKNOWN, then matched by its `course.created`."""
    simulator = _sandbox("learningstudio")
    request = CourseRequest("Hoists", callback_url=CALLBACK)
    async with coursegen.connect("learningstudio", sandbox=simulator) as plain:
        made = await plain.submit(request)  # the vendor made it; the answer "was lost"
        await made.wait()
    await _leave_intent("learningstudio", simulator, store_url, request, sending=True)
    async with coursegen.connect("learningstudio", sandbox=simulator, store=store_url) as second:
        await second.recovered()
        unknown = await second.job("cut")
        assert unknown is not None
        assert unknown.state is SubmitState.UNKNOWN
        assert "SubmitOutcomeUnknown" in (unknown.last_error or "")
        [hook] = [h for h in simulator.webhooks if h.event == "course.created"]
        event = second.read_webhook(hook.headers, hook.content)
        job = await second.reconcile(event)
        assert job is not None
        course = await job.result()
        record = await second.job("cut")
        assert await second.reconcile(event) is not None  # a repeat only confirms it
    assert record is not None
    assert (record.state, record.job_id, record.result) == (SubmitState.SUBMITTED, made.id, course)
    assert _creates(simulator) == 2  # the lost one and the probe: nothing was resent


async def test_a_refused_create_is_recorded_as_refused(store_url) -> None:
    """A create the vendor refuses leaves a REFUSED row saying why, and no job."""
    async with coursegen.connect(
        "learningstudio", sandbox=True, store=store_url, api_key="ls_wrong"
    ) as client:
        with pytest.raises(coursegen.AuthenticationError):
            await client.submit(CourseRequest("Beams"))
        [record] = await client.jobs()
    assert record.state is SubmitState.REFUSED
    assert record.job_id is None
    assert "AuthenticationError" in (record.last_error or "")


async def test_a_store_url_password_is_never_shown(postgres_store_url) -> None:
    """The password of a store URL is masked in its repr and in connection errors."""
    store = open_store("postgresql://postgres:s3cr3t-pw@127.0.0.1:1/test")
    assert "s3cr3t-pw" not in repr(store)
    with pytest.raises(StoreError) as caught:
        await store.open()
    assert "s3cr3t-pw" not in str(caught.value)
    assert "********" in str(caught.value)


def test_an_unknown_store_scheme_is_a_configuration_error() -> None:
    """A store URL of no known kind is refused, naming the kinds there are."""
    with pytest.raises(coursegen.ConfigurationError, match="sqlite:///"):
        open_store("mysql://root:pw@localhost/db")


def test_results_and_snapshots_round_trip_through_json() -> None:
    """`to_json`/`from_json` keep every field of a snapshot with a result, datetimes as ISO."""
    course = coursegen.Course(
        id="c", title="T", created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), extra={"a": [1]}
    )
    snapshot = Snapshot(
        job_id="j",
        provider="p",
        status=JobStatus.SUCCEEDED,
        result=course,
        cost=coursegen.Money(Decimal("1.10")),
        observed_at=datetime(2026, 1, 2, tzinfo=UTC),
    )
    text = coursegen.to_json(snapshot)
    assert '"created_at":"2026-01-02T03:04:05+00:00"' in text
    again = coursegen.from_json(text, Snapshot)
    assert again == snapshot
    assert again.observed_at == snapshot.observed_at
    with pytest.raises(coursegen.SerializationError, match="Snapshot"):
        coursegen.from_json('{"job_id": "j"}', Snapshot)


async def test_of_two_clients_racing_for_one_intent_only_one_sends_it(store_url) -> None:
    """An intent is claimed from PENDING once: a second claim fails, so one create goes out."""
    async with open_store(store_url) as store:
        await store.add_intent(
            record_id="r1", provider="p", endpoint="h", scope="s", request=CourseRequest("x")
        )
        assert await store.mark_sending("r1")
        assert not await store.mark_sending("r1")
        record = await store.get("r1")
    assert record is not None
    assert record.state is SubmitState.SENDING
