"""The EduMate adapter, fed canned `httpx.Response` objects: no network, no clock.

Fixture provenance (`fixtures/`): every example payload of the vendor's docs (seed 003,
`GET /job_status`) is a file, unchanged in content: `job_status_started`,
`job_status_finished` (the docs' MCQ shape), `job_status_failed`, `job_status_not_found`.
The others follow what the real server sends (VENDORS.md section 3), with the seed
examples' values where there are any: `job_status_finished_server` (the same questions in
the server's shape: `question_no`, `answer_options`, `explaination`),
`job_status_finished_server_letters` (lettered options, letter answers),
`job_status_finished_null`, `job_status_failed_timeout` (RQ's timeout traceback),
`chat_queued`, `chunking_queued`, `chunking_status_chunked`, `chunking_refused`
(an HTTP 200 refusal of an upload) and `error_422_missing` (FastAPI's validation body).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from coursegen import (
    Adapter,
    Assessment,
    AssessmentRequest,
    AuthenticationError,
    BloomLevel,
    Conflict,
    InvalidRequest,
    JobErrorInfo,
    JobStatus,
    MalformedResponse,
    NotFound,
    PermissionDenied,
    ProviderError,
    ProviderUnavailable,
    Question,
    RateLimited,
    Settings,
    Snapshot,
    StagedAdapter,
)
from coursegen.testing import VendorFixtures, answer
from coursegen_edumate import DEFAULT_BLOOM_MIX, EduMate, blooms_requirements

FIXTURES = VendorFixtures(Path(__file__).parent / "fixtures")
BASE = "http://localhost:8000"
CHAT_JOB = "3f2b8c1e-9d4a-4e6b-8a75-0c1d2e3f4a5b"
CHUNK_JOB = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
COLLECTION = "edu_mate_5f0c9a2b7d41"
DEFAULT_BLOOMS = "5 remember, 3 understand, 4 apply, 3 analyze, 2 evaluate, 3 create"
PDF = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n"
TIMEOUT_LINE = "rq.timeouts.JobTimeoutException: Task exceeded maximum timeout value (600 seconds)"

EXPECTED = Assessment(
    questions=(
        Question(
            text="What is the primary function of chlorophyll in photosynthesis?",
            options=("Absorb light energy", "Store glucose", "Release oxygen", "Transport water"),
            correct_index=0,
            bloom_level=BloomLevel.REMEMBER,
            explanation=(
                "Chlorophyll is the pigment that captures light energy from the sun, which is "
                "the first step in photosynthesis."
            ),
            number=1,
        ),
        Question(
            text="How would limiting carbon dioxide affect the rate of photosynthesis?",
            options=("No effect", "Increase the rate", "Decrease the rate", "Stop it completely"),
            correct_index=2,
            bloom_level=BloomLevel.ANALYZE,
            explanation=(
                "Carbon dioxide is a key reactant in photosynthesis. Limiting it would slow down "
                "the process as plants have less raw material to convert into glucose."
            ),
            number=2,
        ),
    )
)


def json_response(name: str, request: httpx.Request | None = None) -> httpx.Response:
    return FIXTURES.response(200, name, request=request)


def body_response(
    body: Any, status: int = 200, request: httpx.Request | None = None
) -> httpx.Response:
    return answer(status, body, request=request)


def make_adapter(base_url: str = BASE, api_key: str | None = None) -> EduMate:
    return EduMate.from_settings(Settings(provider="edumate", base_url=base_url, api_key=api_key))


def sent_params(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(request.url.query.decode(), keep_blank_values=True))


def finished(mcqs: list[dict[str, Any]]) -> httpx.Response:
    return body_response({"status": "finished", "result": {"mcqs": mcqs}})


def mcq(**fields: Any) -> dict[str, Any]:
    base = {
        "question_no": 1,
        "bloom_level": "remember",
        "question": "What does chlorophyll absorb?",
        "answer_options": ["Light", "Water", "Salt", "Heat"],
        "correct_answer": "Light",
        "explaination": "It absorbs light.",
    }
    return base | fields


@pytest.fixture
def adapter() -> EduMate:
    return make_adapter()


def upload(adapter: EduMate, **fields: Any) -> httpx.Request:
    request = AssessmentRequest(topic="Photosynthesis", source=PDF, **fields)
    return adapter.submit(request)


def stage_one(adapter: EduMate, **fields: Any) -> Snapshot:
    """The first snapshot of a PDF job, as `read_submitted` makes it."""
    return adapter.read_submitted(json_response("chunking_queued", upload(adapter, **fields)))


# ----------------------------------------------------------------------------- the class


def test_describes_the_vendor_in_class_attributes():
    """Name, base URL, capabilities and the documented polling policy."""
    assert EduMate.name == "edumate"
    assert EduMate.default_base_url == "http://localhost:8000"
    assert dict(EduMate.env_vars) == {}
    caps = EduMate.capabilities
    assert caps.request_kinds == frozenset({AssessmentRequest})
    assert caps.request_fields == frozenset(
        {"topic", "collection", "source", "source_name", "bloom_mix", "extra"}
    )
    assert caps.requires_key is False
    assert caps.idempotent_submit is False
    assert caps.webhooks is False
    policy = EduMate.policy
    assert (policy.min_interval, policy.interval) == (2.0, 2.5)
    assert policy.job_timeout == 600.0
    assert policy.result_ttl == 500.0
    assert dict(policy.rate_limits) == {}


def test_implements_the_adapter_and_staged_adapter_protocols(adapter):
    """The instance is an Adapter, and a StagedAdapter for two-job PDF assessments."""
    assert isinstance(adapter, Adapter)
    assert isinstance(adapter, StagedAdapter)


def test_needs_no_key_and_never_sends_one():
    """Without a key the adapter builds; a configured key never reaches a request."""
    adapter = make_adapter(api_key="jwt-not-for-generation")
    request = adapter.submit(AssessmentRequest(topic="Cells", collection="c"))
    assert "authorization" not in request.headers
    assert "jwt-not-for-generation" not in repr(adapter)
    assert make_adapter(api_key=None).submit(AssessmentRequest(topic="Cells", collection="c"))


def test_plain_http_and_path_prefixes_are_kept():
    """A self-hosted server on plain HTTP, behind a path prefix, keeps both."""
    adapter = make_adapter("http://edumate.internal:8000/api/")
    assert adapter.submit(AssessmentRequest(topic="x", collection="c")).url.path == "/api/chat"
    assert adapter.poll(CHAT_JOB).url.path == "/api/job_status"
    assert adapter.rate_scope == "server-edumate.internal:8000"


# ----------------------------------------------------------------------------- submit


def test_submit_sends_query_parameters_and_no_body(adapter):
    """Topic, collection and Bloom mix go as query parameters of POST /chat, no body."""
    request = adapter.submit(
        AssessmentRequest(
            topic="Photosynthesis",
            collection=COLLECTION,
            bloom_mix={
                BloomLevel.REMEMBER: 5,
                BloomLevel.UNDERSTAND: 3,
                BloomLevel.APPLY: 4,
                BloomLevel.ANALYZE: 3,
                BloomLevel.EVALUATE: 2,
                BloomLevel.CREATE: 3,
            },
        )
    )
    assert request.method == "POST"
    assert request.url.path == "/chat"
    assert request.url.host == "localhost"
    assert request.url.port == 8000
    assert sent_params(request) == {
        "query": "Photosynthesis",
        "collection_name": COLLECTION,
        "blooms_requirements": DEFAULT_BLOOMS,
    }
    assert request.content == b""
    assert "content-type" not in request.headers


def test_an_empty_bloom_mix_is_the_vendors_default(adapter):
    """Without a mix, the server's documented default string is sent."""
    request = adapter.submit(AssessmentRequest(topic="Cells", collection="bio"))
    assert sent_params(request)["blooms_requirements"] == DEFAULT_BLOOMS
    assert blooms_requirements(DEFAULT_BLOOM_MIX) == DEFAULT_BLOOMS
    assert sum(DEFAULT_BLOOM_MIX.values()) == 20


def test_bloom_mix_goes_lowest_level_first_without_zeros(adapter):
    """Levels are written in taxonomy order; levels asked zero times are left out."""
    mix = {BloomLevel.CREATE: 1, BloomLevel.REMEMBER: 0, BloomLevel.APPLY: 2}
    request = adapter.submit(AssessmentRequest(topic="Cells", collection="bio", bloom_mix=mix))
    assert sent_params(request)["blooms_requirements"] == "2 apply, 1 create"


def test_bloom_mix_accepts_level_names():
    """A mix keyed by the levels' names reads like one keyed by BloomLevel."""
    assert blooms_requirements({"Analyze": 2, "remember": 1}) == "1 remember, 2 analyze"  # type: ignore[dict-item]


def test_extra_adds_query_parameters_and_none_removes_one(adapter):
    """`extra` is merged last: text, numbers and booleans as text; None drops a parameter."""
    request = adapter.submit(
        AssessmentRequest(
            topic="Cells",
            collection="bio",
            extra={"blooms_requirements": None, "temperature": 0.2, "strict": True},
        )
    )
    assert sent_params(request) == {
        "query": "Cells",
        "collection_name": "bio",
        "temperature": "0.2",
        "strict": "true",
    }


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"topic": " ", "collection": "bio"}, "topic must not be blank"),
        ({"topic": "Cells"}, "give one"),
        ({"topic": "Cells", "collection": "bio", "source": PDF}, "not both"),
        ({"topic": "Cells", "collection": "  "}, "collection must not be blank"),
        ({"topic": "Cells", "collection": "bio", "source_name": "a.pdf"}, "source_name"),
        ({"topic": "Cells", "source": "notes.pdf"}, "the document's bytes"),
        ({"topic": "Cells", "source": b""}, "source document is empty"),
        (
            {"topic": "Cells", "collection": "bio", "bloom_mix": {BloomLevel.APPLY: -1}},
            "bloom_mix[apply] must be a whole number",
        ),
        (
            {"topic": "Cells", "collection": "bio", "bloom_mix": {BloomLevel.APPLY: 1.5}},
            "bloom_mix[apply] must be a whole number",
        ),
        (
            {"topic": "Cells", "collection": "bio", "bloom_mix": {"memorize": 2}},
            "bloom_mix keys must be BloomLevel values, not 'memorize'",
        ),
        (
            {"topic": "Cells", "collection": "bio", "bloom_mix": {BloomLevel.APPLY: 0}},
            "asks for no questions",
        ),
        (
            {"topic": "Cells", "collection": "bio", "extra": {"tags": ["a"]}},
            "extra['tags'] cannot be a query parameter",
        ),
    ],
)
def test_submit_validates_before_building_a_request(adapter, no_requests_built, fields, fragment):
    """Each invalid input raises InvalidRequest, with no vendor code, before any request."""
    with pytest.raises(InvalidRequest) as caught:
        adapter.submit(AssessmentRequest(**fields))
    assert fragment in caught.value.message
    assert caught.value.provider == "edumate"
    assert caught.value.status_code is None


def test_submit_reports_every_problem_at_once(adapter, no_requests_built):
    """A blank topic, a bad mix and a missing origin come back in one message."""
    with pytest.raises(InvalidRequest) as caught:
        adapter.submit(AssessmentRequest(topic="", bloom_mix={BloomLevel.APPLY: -2}))
    message = caught.value.message
    assert "topic" in message
    assert "bloom_mix" in message
    assert "give one" in message


def test_a_pdf_is_uploaded_as_multipart_file(adapter):
    """A source document goes to POST /chunking as the multipart field `file`, alone."""
    request = upload(adapter, source_name="photosynthesis.pdf")
    assert request.method == "POST"
    assert request.url.path == "/chunking"
    assert request.url.query == b""
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    body = request.read()
    assert b'name="file"; filename="photosynthesis.pdf"' in body
    assert b"Content-Type: application/pdf" in body
    assert PDF in body
    # What stage two needs stays on our side of the wire.
    assert b"Photosynthesis" not in body


def test_an_unnamed_pdf_is_called_document_pdf(adapter):
    """Without `source_name` the vendor is told `document.pdf`."""
    assert b'filename="document.pdf"' in upload(adapter).read()


# ----------------------------------------------------------------------------- created


def test_read_submitted_chat_answer(adapter):
    """`{"status": "queued", "job_id"}` is a PENDING snapshot of that job."""
    snapshot = adapter.read_submitted(json_response("chat_queued"))
    assert snapshot.job_id == CHAT_JOB
    assert snapshot.provider == "edumate"
    assert snapshot.status is JobStatus.PENDING
    assert snapshot.vendor_status == "queued"
    assert snapshot.result is None
    assert snapshot.error is None
    assert snapshot.raw == FIXTURES.json("chat_queued")


def test_an_upload_answer_gives_an_opaque_stage_id_that_polls_chunking(adapter):
    """The upload's job id is composed ("chunking:" + urlsafe base64) and polls its job."""
    snapshot = stage_one(adapter)
    assert snapshot.job_id.startswith("chunking:")
    assert all(c.isalnum() or c in "-_:" for c in snapshot.job_id)
    assert snapshot.status is JobStatus.PENDING
    request = adapter.poll(snapshot.job_id)
    assert request.method == "GET"
    assert request.url.path == "/chunking/status"
    assert sent_params(request) == {"job_id": CHUNK_JOB}


def test_the_stage_id_alone_resumes_stage_two_in_another_process(adapter):
    """A fresh adapter, given only the stage id and the chunked answer, makes stage two."""
    mix = {BloomLevel.APPLY: 2, BloomLevel.CREATE: 1}
    job_id = stage_one(adapter, bloom_mix=mix, extra={"temperature": 0}).job_id
    other = make_adapter()
    chunked = other.read_snapshot(job_id, json_response("chunking_status_chunked"))
    assert chunked.status is JobStatus.RUNNING
    assert chunked.vendor_status == "chunked"
    request = other.next_stage(chunked)
    assert request is not None
    assert request.method == "POST"
    assert request.url.path == "/chat"
    assert sent_params(request) == {
        "query": "Photosynthesis",
        "collection_name": COLLECTION,
        "blooms_requirements": "2 apply, 1 create",
        "temperature": "0",
    }


def test_stage_two_uses_the_upload_answers_collection_if_the_status_names_none(adapter):
    """A chunked answer without `collection_name` falls back to the upload answer's."""
    job_id = stage_one(adapter).job_id
    body = {"status": "chunked", "result": {"stored": True, "chunks": 3}}
    chunked = adapter.read_snapshot(job_id, body_response(body))
    request = adapter.next_stage(chunked)
    assert request is not None
    assert sent_params(request)["collection_name"] == COLLECTION


def test_read_stage_reads_the_generation_jobs_answer(adapter):
    """The answer to stage two's POST /chat is the generation job's first snapshot."""
    job_id = stage_one(adapter).job_id
    chunked = adapter.read_snapshot(job_id, json_response("chunking_status_chunked"))
    snapshot = adapter.read_stage(chunked, json_response("chat_queued"))
    assert snapshot.job_id == CHAT_JOB
    assert snapshot.status is JobStatus.PENDING
    assert adapter.poll(snapshot.job_id).url.path == "/job_status"


@pytest.mark.parametrize("word", ["queued", "started", "deferred", "failed"])
def test_no_stage_two_before_the_document_is_chunked(adapter, word):
    """Only a chunked stage one starts stage two; a generation job never does."""
    job_id = stage_one(adapter).job_id
    body = {"status": word, "error": "boom"} if word == "failed" else {"status": word}
    assert adapter.next_stage(adapter.read_snapshot(job_id, body_response(body))) is None
    generation = adapter.read_snapshot(CHAT_JOB, json_response("job_status_finished"))
    assert adapter.next_stage(generation) is None


def test_a_refused_upload_is_a_failed_job_not_a_success(adapter):
    """HTTP 200 `{"status": "failed", "error"}` is FAILED at once; its id polls nothing."""
    request = upload(adapter, source_name="notes.txt")
    snapshot = adapter.read_submitted(json_response("chunking_refused", request))
    assert snapshot.status is JobStatus.FAILED
    assert snapshot.error == JobErrorInfo("notes.txt is not a PDF file")
    assert snapshot.job_id.startswith("refused:chunking:")
    assert snapshot.raw == FIXTURES.json("chunking_refused")
    with pytest.raises(NotFound, match="refused this job"):
        adapter.poll(snapshot.job_id)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"status": "queued"}, "has no job_id"),
        ({"status": "queued", "job_id": 7}, "$.job_id"),
        ([CHAT_JOB], "$"),
    ],
)
def test_an_unreadable_create_answer_is_malformed(adapter, body, fragment):
    """A create answer without a usable job id is MalformedResponse, raw attached."""
    response = body_response(body)
    with pytest.raises(MalformedResponse) as caught:
        adapter.read_submitted(response)
    assert fragment in caught.value.message
    assert caught.value.raw == response.text


# ----------------------------------------------------------------------------- poll


def test_poll_builds_the_documented_get(adapter):
    """GET /job_status?job_id=..., no body, no key."""
    request = adapter.poll(CHAT_JOB)
    assert request.method == "GET"
    assert str(request.url) == f"{BASE}/job_status?job_id={CHAT_JOB}"
    assert request.content == b""
    assert "authorization" not in request.headers


def test_poll_refuses_empty_and_damaged_ids(adapter):
    """An empty id and a stage id that does not decode are InvalidRequest, sending nothing."""
    with pytest.raises(InvalidRequest):
        adapter.poll("")
    with pytest.raises(InvalidRequest, match="damaged"):
        adapter.poll("chunking:!!!not-base64")
    with pytest.raises(InvalidRequest, match="damaged"):
        adapter.poll("chunking:e30")  # "{}": no version, no job


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("created", JobStatus.PENDING),
        ("queued", JobStatus.PENDING),
        ("deferred", JobStatus.PENDING),
        ("scheduled", JobStatus.PENDING),
        ("started", JobStatus.RUNNING),
        ("rate_limited", JobStatus.RUNNING),
        ("ready_to_enqueue", JobStatus.RUNNING),
        ("reticulating", JobStatus.RUNNING),
        ("", JobStatus.RUNNING),
        ("stopped", JobStatus.CANCELLED),
        ("canceled", JobStatus.CANCELLED),
        ("failed", JobStatus.FAILED),
        ("finished", JobStatus.SUCCEEDED),
    ],
)
def test_every_rq_status_maps_onto_a_job_status(adapter, word, status):
    """Each of RQ's statuses (and any unknown word) maps as documented, the word kept."""
    body: dict[str, Any] = {"status": word}
    if word == "finished":
        body["result"] = FIXTURES.json("job_status_finished")["result"]
    snapshot = adapter.read_snapshot(CHAT_JOB, body_response(body))
    assert snapshot.status is status
    assert snapshot.vendor_status == word
    assert snapshot.job_id == CHAT_JOB


@pytest.mark.parametrize("word", ["stopped", "canceled"])
def test_a_cancelled_job_says_so(adapter, word):
    """A stopped or canceled job carries an error naming the word, for JobFailed."""
    snapshot = adapter.read_snapshot(CHAT_JOB, body_response({"status": word}))
    assert snapshot.error == JobErrorInfo(f"the job was {word} on the EduMate server", word)


def test_seed_started(adapter):
    """Seed 003's in-progress example: RUNNING, nothing else."""
    snapshot = adapter.read_snapshot(CHAT_JOB, json_response("job_status_started"))
    assert snapshot.status is JobStatus.RUNNING
    assert snapshot.vendor_status == "started"
    assert snapshot.progress is None
    assert snapshot.result is None
    assert snapshot.error is None
    assert snapshot.raw == FIXTURES.json("job_status_started")


def test_null_status_is_not_found_with_raw(adapter):
    """Seed 003's `{"status": null}`: NotFound, saying it may have expired, raw kept."""
    with pytest.raises(NotFound) as caught:
        adapter.read_snapshot(CHAT_JOB, json_response("job_status_not_found"))
    error = caught.value
    assert error.provider == "edumate"
    assert error.status_code == 200
    assert error.raw == FIXTURES.bytes("job_status_not_found").decode()
    assert CHAT_JOB in error.message
    assert "no longer keeps it" in error.message
    assert error.job_gone  # the vendor's own word: a job seen before has expired


@pytest.mark.parametrize(
    "name",
    ["job_status_finished", "job_status_finished_server", "job_status_finished_server_letters"],
)
def test_docs_and_server_shapes_normalize_to_the_same_assessment(adapter, name):
    """The seed's docs shape and both server shapes give one Assessment, field by field."""
    snapshot = adapter.read_snapshot(CHAT_JOB, json_response(name))
    assert snapshot.status is JobStatus.SUCCEEDED
    assert snapshot.vendor_status == "finished"
    assert snapshot.error is None
    assert snapshot.raw == FIXTURES.json(name)
    assessment = snapshot.result
    assert isinstance(assessment, Assessment)
    assert len(assessment.questions) == len(EXPECTED.questions)
    for got, want in zip(assessment.questions, EXPECTED.questions, strict=True):
        assert got.text == want.text
        assert got.options == want.options
        assert got.correct_index == want.correct_index
        assert got.correct_option == want.correct_option
        assert got.bloom_level is want.bloom_level
        assert got.explanation == want.explanation
        assert got.number == want.number
    assert dict(assessment.extra) == {}
    assert assessment == EXPECTED


def test_finished_with_a_null_result_is_a_failure_with_a_reason(adapter):
    """`finished` with `result: null` generated nothing: FAILED, saying so, not empty success."""
    snapshot = adapter.read_snapshot(CHAT_JOB, json_response("job_status_finished_null"))
    assert snapshot.status is JobStatus.FAILED
    assert snapshot.vendor_status == "finished"
    assert snapshot.result is None
    assert snapshot.error is not None
    assert snapshot.error.code == "empty_result"
    assert "generated nothing" in snapshot.error.message


@pytest.mark.parametrize("result", [{"mcqs": []}, [], {"mcqs": None}])
def test_finished_with_no_questions_is_a_failure_too(adapter, result):
    """An empty question list is the same nothing as a null result."""
    snapshot = adapter.read_snapshot(
        CHAT_JOB, body_response({"status": "finished", "result": result})
    )
    assert snapshot.status is JobStatus.FAILED
    assert snapshot.error is not None
    assert snapshot.error.code == "empty_result"


def test_seed_failed(adapter):
    """Seed 003's failure example: FAILED with the vendor's one-line message, no code."""
    snapshot = adapter.read_snapshot(CHAT_JOB, json_response("job_status_failed"))
    assert snapshot.status is JobStatus.FAILED
    assert snapshot.error == JobErrorInfo("Connection timeout to vector database", code=None)


def test_a_traceback_becomes_its_last_line_with_the_whole_text_in_raw(adapter):
    """RQ's timeout traceback: its last line is the message, its exception the code."""
    snapshot = adapter.read_snapshot(CHAT_JOB, json_response("job_status_failed_timeout"))
    assert snapshot.status is JobStatus.FAILED
    assert snapshot.error == JobErrorInfo(TIMEOUT_LINE, code="rq.timeouts.JobTimeoutException")
    assert "\n" not in snapshot.error.message
    whole = FIXTURES.json("job_status_failed_timeout")["error"]
    assert whole.startswith("Traceback (most recent call last):")
    assert snapshot.raw["error"] == whole


@pytest.mark.parametrize("error", [None, "", "  \n"])
def test_a_failure_without_an_error_still_says_something(adapter, error):
    """A failed job without an error text gets a message of ours."""
    snapshot = adapter.read_snapshot(CHAT_JOB, body_response({"status": "failed", "error": error}))
    assert snapshot.error is not None
    assert snapshot.error.message == "EduMate reports the job failed, without an error"


@pytest.mark.parametrize(
    ("options", "answer", "index"),
    [
        (["Light", "Water", "Salt", "Heat"], "Water", 1),
        (["Light", "Water", "Salt", "Heat"], "B", 1),
        (["Light", "Water", "Salt", "Heat"], "B)", 1),
        (["Light", "Water", "Salt", "Heat"], "B.", 1),
        (["Light", "Water", "Salt", "Heat"], "(b)", 1),
        (["Light", "Water", "Salt", "Heat"], "B) Water", 1),
        (["Light", "Water", "Salt", "Heat"], "  water ", 1),
        (["A) Light", "B) Water", "C) Salt", "D) Heat"], "C", 2),
        (["A) Light", "B) Water", "C) Salt", "D) Heat"], "C) Salt", 2),
        (["A) Light", "B) Water", "C) Salt", "D) Heat"], "Salt", 2),
        (["A. Light", "B. Water", "C. Salt", "D. Heat"], "D.", 3),
        (["A", "B", "C", "D"], "C", 2),
    ],
)
def test_correct_answer_as_text_or_letter_resolves_to_the_option(adapter, options, answer, index):
    """Full text, a letter ("B", "B)", "B.", "(b)") or lettered text all give the index."""
    snapshot = adapter.read_snapshot(
        CHAT_JOB, finished([mcq(answer_options=options, correct_answer=answer)])
    )
    assessment = snapshot.result
    assert isinstance(assessment, Assessment)
    assert assessment.questions[0].correct_index == index


def test_lettered_options_lose_their_letters(adapter):
    """Options written "A) ..." in letter order are kept without the prefix (documented)."""
    options = ["A) Light", "B) Water", "C) Salt", "D) Heat"]
    snapshot = adapter.read_snapshot(CHAT_JOB, finished([mcq(answer_options=options)]))
    assert isinstance(snapshot.result, Assessment)
    assert snapshot.result.questions[0].options == ("Light", "Water", "Salt", "Heat")


def test_options_that_merely_start_like_a_letter_are_kept(adapter):
    """Without every option lettered in order, nothing is stripped."""
    options = ["A. thaliana", "Zea mays", "Oryza sativa", "Pisum sativum"]
    snapshot = adapter.read_snapshot(
        CHAT_JOB, finished([mcq(answer_options=options, correct_answer="A. thaliana")])
    )
    assert isinstance(snapshot.result, Assessment)
    assert snapshot.result.questions[0].options == tuple(options)


@pytest.mark.parametrize("answer", ["Sunlight", "E", "E)", "", "Light."])
def test_an_unresolvable_answer_keeps_the_question_and_says_so(adapter, answer):
    """An answer matching no option (nor a letter in range; a trailing period) keeps the
    finished job and the question, without a resolved answer, and a warning names it."""
    response = finished([mcq(), mcq(question_no=2, correct_answer=answer)])
    snapshot = adapter.read_snapshot(CHAT_JOB, response)
    assert snapshot.status is JobStatus.SUCCEEDED
    assert isinstance(snapshot.result, Assessment)
    first, second = snapshot.result.questions
    assert first.correct_index is not None
    assert second.correct_index is None
    assert second.correct_option is None
    assert second.options == first.options
    (warning,) = snapshot.result.warnings
    assert "question 2 of the result (question_no 2)" in warning
    assert repr(answer) in warning
    assert "without a resolved answer" in warning


def test_a_question_without_options_is_kept_unresolved(adapter):
    """An empty option list cannot have a correct answer: kept, unresolved, warned of."""
    snapshot = adapter.read_snapshot(CHAT_JOB, finished([mcq(answer_options=[]), mcq()]))
    assert isinstance(snapshot.result, Assessment)
    assert snapshot.result.questions[0].options == ()
    assert snapshot.result.questions[0].correct_index is None
    assert "question 1 of the result" in snapshot.result.warnings[0]
    assert "has no options" in snapshot.result.warnings[0]


@pytest.mark.parametrize(
    ("word", "level"),
    [
        ("remember", BloomLevel.REMEMBER),
        ("Understand", BloomLevel.UNDERSTAND),
        (" APPLY ", BloomLevel.APPLY),
        ("analyse", BloomLevel.ANALYZE),
        ("Analysis", BloomLevel.ANALYZE),
        ("evaluation", BloomLevel.EVALUATE),
        ("Creating", BloomLevel.CREATE),
        ("knowledge", BloomLevel.REMEMBER),
        ("synthesis", BloomLevel.CREATE),
        ("wisdom", None),
        (None, None),
    ],
)
def test_bloom_levels_become_bloom_level(adapter, word, level):
    """The vendor's level words (any case, old taxonomy too) map to BloomLevel; others None."""
    snapshot = adapter.read_snapshot(CHAT_JOB, finished([mcq(bloom_level=word)]))
    assert isinstance(snapshot.result, Assessment)
    assert snapshot.result.questions[0].bloom_level is level


@pytest.mark.parametrize(("number", "expected"), [(7, 7), ("12", 12), (None, 1), ("Q1", 1)])
def test_question_numbers_are_kept(adapter, number, expected):
    """`question_no` (a number or digits) is kept; without a usable one, the position."""
    snapshot = adapter.read_snapshot(CHAT_JOB, finished([mcq(question_no=number)]))
    assert isinstance(snapshot.result, Assessment)
    assert snapshot.result.questions[0].number == expected


def test_a_result_as_a_list_or_as_json_text_is_read(adapter):
    """A bare list of questions, or the same JSON as text, reads like `{"mcqs": [...]}`."""
    questions = FIXTURES.json("job_status_finished_server")["result"]["mcqs"]
    for result in (questions, json.dumps({"mcqs": questions}), json.dumps(questions)):
        snapshot = adapter.read_snapshot(
            CHAT_JOB, body_response({"status": "finished", "result": result})
        )
        assert snapshot.result == EXPECTED


def test_other_result_keys_are_kept_in_extra(adapter):
    """Result keys beside the questions land in Assessment.extra; nothing is lost."""
    result = FIXTURES.json("job_status_finished")["result"] | {"chapter": "Plants", "model": "x"}
    snapshot = adapter.read_snapshot(
        CHAT_JOB, body_response({"status": "finished", "result": result})
    )
    assert isinstance(snapshot.result, Assessment)
    assert dict(snapshot.result.extra) == {"chapter": "Plants", "model": "x"}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({}, "$.status"),
        ({"status": 3}, "$.status"),
        ({"status": "failed", "error": {"trace": "x"}}, "$.error"),
        ({"status": "finished", "result": 42}, "result is number"),
        ({"status": "finished", "result": "Sorry, I cannot"}, "result is text"),
        ({"status": "finished", "result": {"items": []}}, "no `mcqs` list"),
        ({"status": "finished", "result": {"mcqs": "many"}}, "$.mcqs"),
        ({"status": "finished", "result": {"mcqs": [{"options": ["a"]}]}}, "$.mcqs[0].question"),
        (
            {"status": "finished", "result": {"mcqs": [mcq(answer_options="Light")]}},
            "$.mcqs[0].options",
        ),
        (
            {"status": "finished", "result": {"mcqs": [mcq(), mcq(correct_answer=None)]}},
            "$.mcqs[1].correct_answer",
        ),
        (["started"], "$"),
    ],
)
def test_a_wrong_shape_is_malformed_never_a_key_error(adapter, body, fragment):
    """A poll answer of the wrong shape is MalformedResponse naming the field; raw attached."""
    response = body_response(body)
    with pytest.raises(MalformedResponse) as caught:
        adapter.read_snapshot(CHAT_JOB, response)
    assert fragment in caught.value.message
    assert caught.value.raw == response.text
    assert caught.value.status_code == 200


@pytest.mark.parametrize(
    "content", [b"<html>502 Bad Gateway</html>", b"", b'{"status": "sta', b"\xff\xfe"]
)
def test_a_non_json_answer_is_malformed(adapter, content):
    """An HTML, empty, truncated or undecodable body is MalformedResponse with raw."""
    response = httpx.Response(200, content=content)
    with pytest.raises(MalformedResponse) as caught:
        adapter.read_snapshot(CHAT_JOB, response)
    assert caught.value.raw == response.text


# ----------------------------------------------------------------------------- chunking


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"status": "queued"}, JobStatus.PENDING),
        ({"status": "scheduled"}, JobStatus.PENDING),
        ({"status": "started"}, JobStatus.RUNNING),
        ({"status": "splitting"}, JobStatus.RUNNING),
        ({"status": "canceled"}, JobStatus.CANCELLED),
    ],
)
def test_chunking_statuses_map_like_rq(adapter, body, status):
    """Stage one's statuses are RQ's too; the snapshot keeps the stage id."""
    job_id = stage_one(adapter).job_id
    snapshot = adapter.read_snapshot(job_id, body_response(body))
    assert snapshot.status is status
    assert snapshot.job_id == job_id


def test_a_chunked_document_is_not_the_end_of_the_job(adapter):
    """`chunked` (or RQ's `finished` with the chunk result) reads RUNNING: stage two follows."""
    job_id = stage_one(adapter).job_id
    for word in ("chunked", "finished"):
        body = FIXTURES.json("chunking_status_chunked") | {"status": word}
        snapshot = adapter.read_snapshot(job_id, body_response(body))
        assert snapshot.status is JobStatus.RUNNING
        assert snapshot.result is None
        assert snapshot.vendor_status == word


def test_a_failed_chunking_job_fails_the_job_with_its_last_line(adapter):
    """A chunking traceback fails the whole job with its last line."""
    job_id = stage_one(adapter).job_id
    error = (
        "Traceback (most recent call last):\n  File ...\n"
        "pypdf.errors.PdfReadError: EOF marker not found\n"
    )
    snapshot = adapter.read_snapshot(job_id, body_response({"status": "failed", "error": error}))
    assert snapshot.status is JobStatus.FAILED
    assert snapshot.error == JobErrorInfo(
        "pypdf.errors.PdfReadError: EOF marker not found", code="pypdf.errors.PdfReadError"
    )


def test_a_chunked_document_with_nothing_stored_fails(adapter):
    """A chunking job that ends with `result: null` has made no collection: FAILED."""
    job_id = stage_one(adapter).job_id
    snapshot = adapter.read_snapshot(job_id, body_response({"status": "chunked", "result": None}))
    assert snapshot.status is JobStatus.FAILED
    assert snapshot.error is not None
    assert "stored nothing" in snapshot.error.message


def test_a_chunked_document_naming_no_collection_at_all_is_malformed(adapter):
    """No collection in the status nor in the upload answer: MalformedResponse."""
    request = upload(adapter)
    answer = body_response({"status": "queued", "job_id": CHUNK_JOB}, request=request)
    job_id = adapter.read_submitted(answer).job_id
    with pytest.raises(MalformedResponse, match="names no collection"):
        adapter.read_snapshot(job_id, body_response({"status": "chunked", "result": {}}))


def test_a_forgotten_chunking_job_is_not_found(adapter):
    """`{"status": null}` at /chunking/status is NotFound naming the vendor's job id."""
    job_id = stage_one(adapter).job_id
    with pytest.raises(NotFound, match=CHUNK_JOB):
        adapter.read_snapshot(job_id, json_response("job_status_not_found"))


# ----------------------------------------------------------------------------- errors


def test_a_422_names_the_missing_fields(adapter):
    """FastAPI's 422 is InvalidRequest naming each missing parameter; raw attached."""
    response = httpx.Response(422, content=FIXTURES.bytes("error_422_missing"))
    error = adapter.read_error(response)
    assert type(error) is InvalidRequest
    assert error.message == "EduMate refused the request: missing query parameter 'collection_name'"
    assert error.vendor_code == "missing"
    assert error.status_code == 422
    assert error.raw == FIXTURES.bytes("error_422_missing").decode()


def test_a_422_with_several_problems_names_them_all(adapter):
    """Every entry of `detail` is named, missing or otherwise invalid."""
    detail = [
        {"type": "missing", "loc": ["query", "query"], "msg": "Field required", "input": None},
        {"type": "missing", "loc": ["body", "file"], "msg": "Field required", "input": None},
        {"type": "int_parsing", "loc": ["query", "n"], "msg": "Input should be a valid integer"},
    ]
    error = adapter.read_error(body_response({"detail": detail}, 422))
    assert "missing query parameter 'query'" in error.message
    assert "missing form field 'file'" in error.message
    assert "query parameter 'n': Input should be a valid integer" in error.message


def test_a_plain_text_500_is_provider_unavailable(adapter):
    """Redis down: a plain-text 500 is ProviderUnavailable, with the text as raw."""
    response = httpx.Response(500, text="Internal Server Error")
    error = adapter.read_error(response)
    assert type(error) is ProviderUnavailable
    assert error.status_code == 500
    assert error.raw == "Internal Server Error"
    assert "Redis" in error.message


def test_a_route_404_is_not_found_saying_the_url_looks_wrong(adapter):
    """`{"detail": "Not Found"}` with HTTP 404 is a route that is not there (EduMate
    answers unknown jobs with 200): NotFound that says the base URL looks wrong, and
    that is not the vendor's word on the job (`job_gone` False: never read as expired)."""
    error = adapter.read_error(body_response({"detail": "Not Found"}, 404))
    assert type(error) is NotFound
    assert not error.job_gone
    assert "Not Found" in error.message
    assert "base URL 'http://localhost:8000' looks wrong" in error.message
    assert "Not Found" in (error.raw or "")


def test_fastapis_detail_string_is_the_message(adapter):
    """A `{"detail": "..."}` string on another status is the message as it stands."""
    error = adapter.read_error(body_response({"detail": "Method Not Allowed"}, 405))
    assert error.message == "Method Not Allowed"


PYDANTIC_TRACEBACK = """Traceback (most recent call last):
  File "/usr/local/lib/python3.11/site-packages/rq/worker.py", line 1431, in perform_job
    rv = job.perform()
  File "/app/worker/tasks.py", line 57, in generate_mcqs
    return McqList.model_validate(parsed)
           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
pydantic_core._pydantic_core.ValidationError: 1 validation error for McqList
mcqs.0.correct_answer
  Input should be a valid string [type=string_type, input_value=3, input_type=int]
    For further information visit https://errors.pydantic.dev/2.9/v/string_type
"""


def test_a_multi_line_traceback_names_its_exception_line_not_the_trailing_hint(adapter):
    """The failure message is the exception line (dotted name first), not pydantic's
    "For further information visit ..." that ends the traceback; the name is the code."""
    response = body_response({"status": "failed", "error": PYDANTIC_TRACEBACK})
    snapshot = adapter.read_snapshot(CHAT_JOB, response)
    assert snapshot.status is JobStatus.FAILED
    assert snapshot.error == JobErrorInfo(
        "pydantic_core._pydantic_core.ValidationError: 1 validation error for McqList",
        code="pydantic_core._pydantic_core.ValidationError",
    )


def test_a_missing_collection_failure_names_the_collection(adapter):
    """The real server's `ValueError: Collection ... not found` is the message."""
    traceback = (
        "Traceback (most recent call last):\n"
        '  File "/app/worker/tasks.py", line 40, in generate_mcqs\n'
        "    raise ValueError(f'Collection {name} not found')\n"
        "ValueError: Collection edu_mate_nope not found\n"
    )
    snapshot = adapter.read_snapshot(
        CHAT_JOB, body_response({"status": "failed", "error": traceback})
    )
    assert snapshot.error == JobErrorInfo(
        "ValueError: Collection edu_mate_nope not found", code="ValueError"
    )


def test_an_empty_mcqs_list_is_not_called_a_null_result(adapter):
    """`finished` with `{"mcqs": []}` is FAILED saying the list is empty, not null."""
    snapshot = adapter.read_snapshot(CHAT_JOB, finished([]))
    assert snapshot.status is JobStatus.FAILED
    assert snapshot.error is not None
    assert "its `mcqs` list is empty" in snapshot.error.message
    assert "null" not in snapshot.error.message


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, InvalidRequest),
        (401, AuthenticationError),
        (403, PermissionDenied),
        (409, Conflict),
        (418, ProviderError),
        (422, InvalidRequest),
        (502, ProviderUnavailable),
        (503, ProviderUnavailable),
    ],
)
def test_other_statuses_go_by_the_status(adapter, status, error_class):
    """Anything else is classified by `error_class_for_status`, raw attached."""
    response = httpx.Response(status, content=b"")
    error = adapter.read_error(response)
    assert type(error) is error_class
    assert error.status_code == status
    assert "without an EduMate error message" in error.message


def test_a_429_keeps_retry_after(adapter):
    """A proxy's 429 is RateLimited with its Retry-After."""
    error = adapter.read_error(httpx.Response(429, text="slow down", headers={"Retry-After": "4"}))
    assert isinstance(error, RateLimited)
    assert error.retry_after == 4.0


def test_no_rate_limit_headers(adapter):
    """EduMate sends none: read_rate_limit is None."""
    assert adapter.read_rate_limit(json_response("job_status_started")) is None
