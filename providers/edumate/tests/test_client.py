"""EduMate end to end: the client, the engine and the simulator together.

The tests run on a virtual clock on both backends (minutes of vendor time in
milliseconds), at speed 1: vendor times are exact.
"""

from __future__ import annotations

import json
from collections import Counter
from contextlib import aclosing
from typing import Any

import anyio
import httpx
import pytest

import coursegen
from coursegen import (
    Assessment,
    AssessmentRequest,
    BloomLevel,
    JobStatus,
    RetryPolicy,
    default_registry,
)
from coursegen.sandbox import JobScript
from coursegen_edumate import EduMate
from coursegen_edumate.sandbox import DEMO_COLLECTION, EduMateSandbox

pytestmark = pytest.mark.anyio

MIX = {BloomLevel.REMEMBER: 2, BloomLevel.APPLY: 1, BloomLevel.CREATE: 1}
REQUEST = AssessmentRequest(topic="Photosynthesis", collection=DEMO_COLLECTION, bloom_mix=MIX)
PDF = b"%PDF-1.7\n" + b"leaf " * 800 + b"\n%%EOF\n"
ATTEMPTS = 3
TIMEOUT_LINE = "rq.timeouts.JobTimeoutException: Task exceeded maximum timeout value (600 seconds)"


def connect(sandbox: EduMateSandbox, **settings: Any) -> coursegen.Client:
    settings.setdefault("retry", RetryPolicy(attempts=ATTEMPTS, initial=0.5, maximum=2.0))
    return coursegen.connect("edumate", sandbox=sandbox, seed=0, **settings)


def pdf_request(**fields: Any) -> AssessmentRequest:
    return AssessmentRequest(
        topic="Photosynthesis", source=PDF, source_name="leaf.pdf", bloom_mix=MIX, **fields
    )


def levels(assessment: object) -> Counter[BloomLevel | None]:
    assert isinstance(assessment, Assessment)
    return Counter(question.bloom_level for question in assessment.questions)


# -- configuration -------------------------------------------------------------------------


def test_registered_through_the_entry_point_group_without_a_key():
    """`edumate` is a plugin like any other; it connects with no key, on plain HTTP."""
    info = default_registry().get("edumate")
    assert info.adapter is EduMate
    assert info.sandbox is not None
    client = coursegen.connect("edumate", environ={})
    assert str(client.settings.base_url) == "http://localhost:8000"
    assert client.settings.api_key is None
    assert client.capabilities.requires_key is False


@pytest.mark.parametrize(
    ("target", "base_url"),
    [
        ("edumate+http://edumate.internal:8000", "http://edumate.internal:8000"),
        ("edumate+http://10.0.0.5:8000/api", "http://10.0.0.5:8000/api"),
        ("edumate://edumate.example.org", "https://edumate.example.org"),
    ],
)
def test_url_forms(target, base_url):
    """`edumate+http://host:8000` is plain HTTP; `edumate://host` is HTTPS."""
    client = coursegen.connect(target, environ={})
    assert str(client.settings.base_url) == base_url


# -- generation ----------------------------------------------------------------------------


async def test_an_assessment_from_a_collection():
    """Topic, collection and Bloom mix in; the asked questions out, normalized."""
    sandbox = EduMateSandbox(letter_answer_rate=1.0)
    async with connect(sandbox) as client:
        job = await client.submit(REQUEST)
        assert job.snapshot.status is JobStatus.PENDING
        assessment = await job.result()
    assert levels(assessment) == Counter(MIX)
    assert isinstance(assessment, Assessment)
    assert [q.number for q in assessment.questions] == [1, 2, 3, 4]
    for question in assessment.questions:
        # Lettered options lose their letters; the letter answer points at the right one.
        assert not question.options[0].startswith("A")
        assert "answer to question" in question.correct_option
        assert question.explanation
    generated = sandbox.generation_jobs[0]
    assert generated.params["blooms_requirements"] == "2 remember, 1 apply, 1 create"
    assert job.snapshot.status is JobStatus.SUCCEEDED


async def test_rq_intermediate_statuses_are_pending():
    """Scripted `scheduled` and `deferred` read PENDING, `started` RUNNING, words kept."""
    sandbox = EduMateSandbox()
    sandbox.script(JobScript("succeed", duration=60, statuses=("scheduled", "deferred", "started")))
    async with connect(sandbox) as client:
        job = await client.submit(REQUEST)
        seen = [(s.vendor_status, s.status) async for s in job.watch()]
    assert ("scheduled", JobStatus.PENDING) in seen
    assert ("deferred", JobStatus.PENDING) in seen
    assert ("started", JobStatus.RUNNING) in seen
    assert seen[-1] == ("finished", JobStatus.SUCCEEDED)


async def test_a_missing_collection_fails_naming_it():
    """A collection that does not exist fails at the server (`ValueError: Collection ...
    not found`, as the real server does): JobFailed with that line, naming it."""
    sandbox = EduMateSandbox()
    async with connect(sandbox) as client:
        job = await client.submit(AssessmentRequest(topic="Tides", collection="edu_mate_none"))
        with pytest.raises(coursegen.JobFailed) as caught:
            await job.result()
    snapshot = caught.value.snapshot
    assert snapshot is not None
    assert snapshot.status is JobStatus.FAILED
    assert snapshot.error == coursegen.JobErrorInfo(
        "ValueError: Collection edu_mate_none not found", code="ValueError"
    )
    assert str(caught.value).endswith("ValueError: Collection edu_mate_none not found")


async def test_an_empty_collection_generates_nothing_and_says_so():
    """A collection with no chunks finishes with `result: null`: JobFailed saying
    nothing came out, not that the collection is missing."""
    sandbox = EduMateSandbox()
    sandbox.collections["edu_mate_empty"] = 0.0
    sandbox.chunks["edu_mate_empty"] = 0
    async with connect(sandbox) as client:
        job = await client.submit(AssessmentRequest(topic="Tides", collection="edu_mate_empty"))
        with pytest.raises(coursegen.JobFailed) as caught:
            await job.result()
    snapshot = caught.value.snapshot
    assert snapshot is not None
    assert snapshot.vendor_status == "finished"
    assert "generated nothing (its result is null)" in str(caught.value)


async def test_a_timed_out_job_fails_with_the_tracebacks_last_line():
    """RQ's 600 s timeout: JobFailed with the traceback's last line; the whole one in raw."""
    sandbox = EduMateSandbox()
    sandbox.script(JobScript("succeed", duration=900))
    async with connect(sandbox) as client:
        job = await client.submit(REQUEST)
        # The vendor's timeout runs from the job's start; our default deadline (also
        # 600 s) from the submit, so it would give up first: wait without one.
        with pytest.raises(coursegen.JobFailed) as caught:
            await job.result(timeout=None)
    snapshot = caught.value.snapshot
    assert snapshot is not None
    assert snapshot.error is not None
    assert snapshot.error.message == TIMEOUT_LINE
    assert snapshot.error.code == "rq.timeouts.JobTimeoutException"
    assert str(caught.value).endswith(TIMEOUT_LINE)
    assert snapshot.raw["error"].startswith("Traceback (most recent call last):")
    assert snapshot.raw["error"].count("\n") > 5


async def test_a_cancelled_job_is_job_failed_saying_so():
    """A job stopped at the server ends CANCELLED; result() raises JobFailed naming it."""
    sandbox = EduMateSandbox()
    sandbox.script(JobScript("succeed", duration=300))
    async with connect(sandbox) as client:
        job = await client.submit(REQUEST)
        await anyio.sleep(30)
        sandbox.cancel(job.id)
        with pytest.raises(coursegen.JobFailed, match="stopped on the EduMate server"):
            await job.result()
    assert job.snapshot.status is JobStatus.CANCELLED


# -- results that expire -------------------------------------------------------------------


async def test_a_result_nobody_fetched_in_time_has_expired():
    """keep_results=False, nobody waits, > 500 s pass: JobExpired, clearly worded."""
    sandbox = EduMateSandbox()
    sandbox.script(JobScript("succeed", duration=60))
    async with connect(sandbox, keep_results=False) as client:
        job = await client.submit(REQUEST)
        await anyio.sleep(700)  # it finished at 60 s; its result went at 560 s
        with pytest.raises(coursegen.JobExpired) as caught:
            await job.result()
    message = str(caught.value)
    assert message.startswith(f"edumate job {job.id} expired")
    assert "its result was not fetched before the vendor discarded it" in message
    assert "keeps results about 500 s" in message
    assert caught.value.snapshot is not None
    assert caught.value.snapshot.status is JobStatus.EXPIRED
    assert caught.value.token == job.token


async def test_a_job_lost_seconds_after_it_was_seen_is_not_called_unfetched():
    """A job last seen running seconds ago that reads null (Redis restarted empty) is
    EXPIRED as lost: the message says when it was seen, never that it went unfetched."""
    sandbox = EduMateSandbox()
    sandbox.script(JobScript("succeed", duration=300))
    async with connect(sandbox) as client:
        job = await client.submit(REQUEST)
        await anyio.sleep(100)
        assert job.snapshot.status is JobStatus.RUNNING
        sandbox.jobs.clear()  # Redis came back empty
        with pytest.raises(coursegen.JobExpired) as caught:
            await job.result()
    message = str(caught.value)
    assert "not fetched" not in message
    assert "last seen running" in message
    assert "lost the job" in message
    assert caught.value.snapshot is not None
    assert caught.value.snapshot.error is not None
    assert caught.value.snapshot.error.code == "lost"


async def test_by_default_no_result_is_ever_lost():
    """The same scenario with default settings: the engine fetched it, nobody waiting."""
    sandbox = EduMateSandbox()
    sandbox.script(JobScript("succeed", duration=60))
    async with connect(sandbox) as client:
        job = await client.submit(REQUEST)
        await anyio.sleep(700)
        polls = len(sandbox.polls[job.id])
        assessment = await job.result()
        assert len(sandbox.polls[job.id]) == polls  # nothing left to ask
    assert levels(assessment) == Counter(MIX)
    assert await job.result() is assessment  # kept, even after the client closed


async def test_a_job_this_client_never_saw_is_not_found():
    """A token for a job the server does not know (another server's) is NotFound."""
    async with connect(EduMateSandbox()) as elsewhere:
        token = (await elsewhere.submit(REQUEST)).token
    async with connect(EduMateSandbox()) as client:
        with pytest.raises(coursegen.NotFound) as caught:
            await client.resume(token)
    assert "does not know job" in str(caught.value)
    assert json.loads(caught.value.raw or "") == {"status": None}


# -- PDF sources ---------------------------------------------------------------------------


async def test_a_pdf_becomes_an_assessment_through_both_vendor_jobs():
    """PDF bytes in, an Assessment out: one job for the user, chunking then chat for EduMate."""
    sandbox = EduMateSandbox()
    async with connect(sandbox) as client:
        job = await client.submit(pdf_request())
        assert job.id.startswith("chunking:")
        seen = [snapshot async for snapshot in job.watch()]
        assessment = await job.result()
    assert levels(assessment) == Counter(MIX)
    assert len(sandbox.chunking_jobs) == 1
    assert len(sandbox.generation_jobs) == 1
    chunked, generated = sandbox.chunking_jobs[0], sandbox.generation_jobs[0]
    assert generated.collection == chunked.collection
    assert generated.params["query"] == "Photosynthesis"
    assert chunked.params["filename"] == "leaf.pdf"
    assert job.id == generated.id
    posts = [(r.method, r.path) for r in sandbox.requests if r.method == "POST"]
    assert posts == [("POST", "/chunking"), ("POST", "/chat")]
    assert [s.status for s in seen].count(JobStatus.SUCCEEDED) == 1
    assert all(not s.status.is_terminal for s in seen[:-1])


async def test_a_pdf_path_is_read_by_the_client(tmp_path):
    """A path as `source`: the client reads it, the vendor is told the file's name."""
    path = tmp_path / "leaf-notes.pdf"
    path.write_bytes(PDF)
    sandbox = EduMateSandbox()
    async with connect(sandbox) as client:
        job = await client.submit(AssessmentRequest(topic="Photosynthesis", source=path))
        assessment = await job.result()
    assert isinstance(assessment, Assessment)
    assert sandbox.chunking_jobs[0].params["filename"] == "leaf-notes.pdf"


async def test_a_pdf_job_resumes_in_another_client_from_stage_one():
    """Stage one's token carries topic and mix: another client told to take charge of
    the later stages (`start_next_stage=True`) finishes the job."""
    sandbox = EduMateSandbox()
    async with connect(sandbox) as first:
        job = await first.submit(pdf_request())
        token = job.token
    assert sandbox.generation_jobs == []
    async with connect(sandbox) as second:
        again = await second.resume(token, start_next_stage=True)
        assessment = await again.result()
    assert levels(assessment) == Counter(MIX)
    assert again.id == sandbox.generation_jobs[0].id
    assert sandbox.generation_jobs[0].params["query"] == "Photosynthesis"


async def test_a_pdf_job_resumes_from_stage_two():
    """Once generation began, the token names the generation job."""
    sandbox = EduMateSandbox()
    async with connect(sandbox) as first:
        job = await first.submit(pdf_request())
        async with aclosing(job.watch()) as snapshots:
            async for snapshot in snapshots:
                if not snapshot.job_id.startswith("chunking:"):
                    break
        token = job.token
    async with connect(sandbox) as second:
        assessment = await (await second.resume(token)).result()
    assert levels(assessment) == Counter(MIX)
    assert len(sandbox.generation_jobs) == 1


async def test_a_document_that_is_not_a_pdf_fails_naming_the_cause():
    """A non-PDF upload is chunked into 0 chunks (as on the real server): the job fails
    at stage one naming the document and why, and no generation job is spent on it."""
    sandbox = EduMateSandbox()
    async with connect(sandbox) as client:
        job = await client.submit(
            AssessmentRequest(topic="Notes", source=b"plain text", source_name="notes.txt")
        )
        with pytest.raises(coursegen.JobFailed) as caught:
            await job.result()
    snapshot = caught.value.snapshot
    assert snapshot is not None
    assert snapshot.error is not None
    assert snapshot.error.code == "empty_document"
    assert "'notes.txt' into 0 chunks" in snapshot.error.message
    assert "PDF" in snapshot.error.message
    assert len(sandbox.chunking_jobs) == 1
    assert sandbox.generation_jobs == []


async def test_a_failed_chunking_job_fails_the_job():
    """A chunking traceback ends the whole job FAILED with its last line; no chat job."""
    sandbox = EduMateSandbox()
    sandbox.script(JobScript("fail", duration=10))
    async with connect(sandbox) as client:
        job = await client.submit(pdf_request())
        with pytest.raises(coursegen.JobFailed) as caught:
            await job.result()
    assert str(caught.value).endswith("pypdf.errors.PdfReadError: EOF marker not found")
    assert sandbox.generation_jobs == []


# -- server errors -------------------------------------------------------------------------


async def test_redis_down_is_retried_then_provider_unavailable():
    """Plain-text 500s on polls are retried; then ProviderUnavailable; the job survives."""
    sandbox = EduMateSandbox()
    async with connect(sandbox) as client:
        job = await client.submit(REQUEST)
        sandbox.redis_down = True
        before = len(sandbox.requests)
        with pytest.raises(coursegen.ProviderUnavailable) as caught:
            await job.refresh()
        assert len(sandbox.requests) - before == ATTEMPTS
        assert job.last_error is caught.value
        sandbox.redis_down = False
        assessment = await job.result()
    assert caught.value.status_code == 500
    assert caught.value.raw == "Internal Server Error"
    assert "Redis" in str(caught.value)
    assert levels(assessment) == Counter(MIX)


async def test_redis_down_on_submit_is_not_retried():
    """A create is never repeated blindly: one plain-text 500, ProviderUnavailable."""
    sandbox = EduMateSandbox()
    sandbox.redis_down = True
    async with connect(sandbox) as client:
        with pytest.raises(coursegen.ProviderUnavailable):
            await client.submit(REQUEST)
    assert len(sandbox.requests) == 1


def mock_server(handler: Any) -> coursegen.Client:
    return coursegen.connect(
        "edumate+http://edumate.test:8000",
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(attempts=2, initial=0.1),
        environ={},
    )


async def test_a_422_from_the_server_names_the_missing_fields():
    """FastAPI's 422 reaches the user as InvalidRequest naming each missing field."""
    detail = [
        {"type": "missing", "loc": ["query", "collection_name"], "msg": "Field required"},
        {"type": "missing", "loc": ["query", "query"], "msg": "Field required"},
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(422, json={"detail": detail})

    async with mock_server(handler) as client:
        with pytest.raises(coursegen.InvalidRequest) as caught:
            await client.submit(REQUEST)
    assert "missing query parameter 'collection_name'" in str(caught.value)
    assert "missing query parameter 'query'" in str(caught.value)
    assert caught.value.status_code == 422


async def test_a_wrong_answer_keeps_the_assessment_and_ends_the_job():
    """A finished job whose one answer matches no option (a trailing period) ends
    SUCCEEDED at once, every question kept, that one unresolved and warned of."""
    good = {
        "question_no": 3,
        "bloom_level": "remember",
        "question": "What do leaves absorb?",
        "answer_options": ["Light", "Salt"],
        "correct_answer": "Light",
        "explaination": "...",
    }
    question = {
        "question_no": 4,
        "bloom_level": "apply",
        "question": "Where does photosynthesis happen?",
        "answer_options": ["Roots", "Leaves", "Stems", "Flowers"],
        "correct_answer": "Leaves.",
        "explaination": "...",
    }
    polls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal polls
        if request.method == "POST":
            return httpx.Response(200, json={"status": "queued", "job_id": "j1"})
        polls += 1
        return httpx.Response(
            200, json={"status": "finished", "result": {"mcqs": [good, question]}}
        )

    async with mock_server(handler) as client:
        job = await client.submit(REQUEST)
        assessment = await job.result()
    assert job.snapshot.status is coursegen.JobStatus.SUCCEEDED
    assert polls == 1
    assert isinstance(assessment, coursegen.Assessment)
    assert [q.correct_index for q in assessment.questions] == [0, None]
    assert assessment.questions[1].options == ("Roots", "Leaves", "Stems", "Flowers")
    (warning,) = assessment.warnings
    assert "question 2 of the result (question_no 4)" in warning
    assert "'Leaves.'" in warning


async def test_a_route_404_on_a_seen_job_is_not_found_not_expired():
    """A poll answered HTTP 404 (a wrong base path or proxy; `/job_status` itself always
    answers 200) is NotFound saying the URL looks wrong: the job is not called EXPIRED."""
    polls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal polls
        if request.method == "POST":
            return httpx.Response(200, json={"status": "queued", "job_id": "j1"})
        polls += 1
        if polls == 1:
            return httpx.Response(200, json={"status": "started"})
        return httpx.Response(404, json={"detail": "Not Found"})

    async with mock_server(handler) as client:
        job = await client.submit(REQUEST)
        with pytest.raises(coursegen.NotFound) as caught:
            await job.wait()
    assert "looks wrong" in str(caught.value)
    assert "edumate.test:8000" in str(caught.value)
    assert job.snapshot.status is JobStatus.RUNNING
    assert not job.following


async def test_watching_a_pdf_job_shows_the_chunked_step_and_the_switch_of_id():
    """`watch()` of a PDF job yields the chunked end of stage one (under the chunking
    id), then the generation job under its own id, ending with the result."""
    sandbox = EduMateSandbox()
    async with connect(sandbox) as client:
        job = await client.submit(pdf_request())
        seen = [(s.job_id, s.vendor_status, s.status) async for s in job.watch()]
    generated = sandbox.generation_jobs[0].id
    chunked = [index for index, (job_id, word, _) in enumerate(seen) if word == "chunked"]
    assert len(chunked) == 1
    assert seen[chunked[0]][0].startswith("chunking:")
    assert seen[chunked[0]][2] is JobStatus.RUNNING
    after = seen[chunked[0] + 1 :]
    assert after
    assert all(job_id == generated for job_id, _, _ in after)
    assert after[-1][1:] == ("finished", JobStatus.SUCCEEDED)


async def test_a_stage_one_token_resumed_after_stage_two_began_makes_no_second_job():
    """In the client that switched stages, a token taken during chunking resumes the
    same job: one `POST /chat`, however often it is resumed."""
    sandbox = EduMateSandbox()
    async with connect(sandbox) as client:
        job = await client.submit(pdf_request())
        early = job.token
        async with aclosing(job.watch()) as snapshots:
            async for snapshot in snapshots:
                if not snapshot.job_id.startswith("chunking:"):
                    break
        again = [await client.resume(early) for _ in range(3)]
        results = [await handle.result() for handle in again]
    assert all(handle.id == job.id for handle in again)
    assert all(result is results[0] for result in results)
    assert len(sandbox.generation_jobs) == 1


async def test_a_stage_one_token_resumed_in_another_process_finds_stage_two(sqlite_store_url):
    """With a store, another client resuming a stage-one token follows the generation
    job the store recorded for it: never a second `POST /chat`."""
    sandbox = EduMateSandbox()
    async with connect(sandbox, store=sqlite_store_url) as first:
        job = await first.submit(pdf_request())
        early = job.token
        async with aclosing(job.watch()) as snapshots:
            async for snapshot in snapshots:
                if not snapshot.job_id.startswith("chunking:"):
                    break
    async with connect(sandbox, store=sqlite_store_url, recover=False) as second:
        again = await second.resume(early)
        assessment = await again.result()
    assert levels(assessment) == Counter(MIX)
    assert again.id == sandbox.generation_jobs[0].id
    assert len(sandbox.generation_jobs) == 1
    assert [r.path for r in sandbox.requests if r.method == "POST"] == ["/chunking", "/chat"]


async def test_a_lost_answer_to_stage_twos_create_is_never_sent_again():
    """The answer to a PDF job's `POST /chat` lost after the server queued it: the job
    ends FAILED with code `submit_outcome_unknown` saying why, and `POST /chat` is never
    sent a second time (no second generation job), however long the client stays open."""
    sandbox = EduMateSandbox()
    sandbox.faults.lost_answers = {"/chat": 1}
    async with connect(sandbox) as client:
        job = await client.submit(pdf_request())
        with pytest.raises(coursegen.JobFailed) as caught:
            await job.result()
        await anyio.sleep(1200.0)  # every poll the engine would still send, sent
        again = await job.wait(timeout=None)
    error = caught.value.snapshot.error
    assert error.code == "submit_outcome_unknown"
    assert "POST /chat" in error.message
    assert "lost" in error.message
    assert again.status is JobStatus.FAILED
    assert not job.following
    assert [r.path for r in sandbox.requests if r.method == "POST"] == ["/chunking", "/chat"]
    assert [r.fault for r in sandbox.requests if r.path == "/chat"] == ["reset_after"]
    assert len(sandbox.generation_jobs) == 1


async def test_a_lost_stage_two_answer_stays_ended_for_a_process_that_recovers(
    sqlite_store_url,
):
    """With a store, the job whose stage-two answer was lost is recorded as ended: a
    client that opens the store later recovers nothing to send: no second `POST /chat`."""
    sandbox = EduMateSandbox()
    sandbox.faults.lost_answers = {"/chat": 1}
    async with connect(sandbox, store=sqlite_store_url) as first:
        job = await first.submit(pdf_request())
        snapshot = await job.wait()
    assert snapshot.error is not None
    assert snapshot.error.code == "submit_outcome_unknown"
    async with connect(sandbox, store=sqlite_store_url) as second:
        assert await second.recovered() == []
        record = await second.job(snapshot.job_id)
        assert record is not None
        assert record.status is JobStatus.FAILED
        await anyio.sleep(600.0)
    assert [r.path for r in sandbox.requests if r.method == "POST"] == ["/chunking", "/chat"]


async def test_a_stage_one_token_resumed_without_a_record_never_starts_stage_two():
    """A fresh client with no store resuming a token taken during chunking cannot know
    whether the client that made it started the generation: it follows the chunking,
    then ends the job FAILED with code `next_stage_unknown` (never a silent second
    `POST /chat`), and the chunking answer, collection included, stays in `raw`."""
    sandbox = EduMateSandbox()
    async with connect(sandbox) as first:
        job = await first.submit(pdf_request())
        early = job.token
        finished = await job.result()
    async with connect(sandbox) as second:
        again = await second.resume(early)
        with pytest.raises(coursegen.JobFailed) as caught:
            await again.result()
    snapshot = caught.value.snapshot
    assert snapshot.error.code == "next_stage_unknown"
    assert "did not start stage 2 (POST /chat)" in snapshot.error.message
    assert snapshot.raw["result"]["collection_name"].startswith("edu_mate_")
    assert levels(finished) == Counter(MIX)
    assert len(sandbox.generation_jobs) == 1
    assert [r.path for r in sandbox.requests if r.method == "POST"] == ["/chunking", "/chat"]


async def test_a_stage_one_token_left_during_chunking_goes_on_from_its_collection():
    """The client that made the job closed while the PDF was chunking: a fresh client
    without a store resuming its token starts no generation by itself; the typed end
    names the collection, from which the user submits the generation explicitly."""
    sandbox = EduMateSandbox()
    async with connect(sandbox) as first:
        token = (await first.submit(pdf_request())).token
    async with connect(sandbox) as second:
        resumed = await second.resume(token)
        ended = await resumed.wait()
        assert ended.error is not None
        assert ended.error.code == "next_stage_unknown"
        assert not [r for r in sandbox.requests if r.path == "/chat"]
        collection = ended.raw["result"]["collection_name"]
        job = await second.submit(
            AssessmentRequest(topic="Photosynthesis", collection=collection, bloom_mix=MIX)
        )
        assessment = await job.result()
    assert levels(assessment) == Counter(MIX)
    assert len(sandbox.generation_jobs) == 1


async def test_a_stage_one_token_adopted_by_a_store_is_not_taken_further_on_recovery(
    sqlite_store_url,
):
    """A store client that resumed a foreign stage-one token records the job it adopted;
    neither it nor a client recovering that store later starts a `POST /chat`: the job
    ends `next_stage_unknown` in the store. (The store's threads let virtual time run
    on, so the chunking may end under either client: both must refuse stage two.)"""
    sandbox = EduMateSandbox()
    async with connect(sandbox) as maker:
        token = (await maker.submit(pdf_request())).token
    async with connect(sandbox, store=sqlite_store_url) as adopter:
        await adopter.resume(token)
    async with connect(sandbox, store=sqlite_store_url) as recovering:
        for job in await recovering.recovered():
            await job.wait()
    async with connect(sandbox, store=sqlite_store_url, recover=False) as reader:
        (record,) = await reader.jobs()
    assert record.snapshot is not None
    assert record.snapshot.error is not None
    assert record.snapshot.error.code == "next_stage_unknown"
    assert not [r for r in sandbox.requests if r.path == "/chat"]
