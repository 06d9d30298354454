"""No answer, key or input takes a client down: each vendor surprise is a typed error.

One test per way a client was found to break (a huge header number, a body that lies
about its encoding, a deep webhook, a Retry-After of a year, an empty job id, a stalled
poll, a lost create, a key with a newline, an echoed key, a key sent elsewhere, bad
input). Vendors are the sandboxes behind `Mangle` (tests/mangle.py) or the toy vendor.
"""

from __future__ import annotations

import gzip
import json
import logging
import subprocess
import sys
from typing import Any

import anyio
import httpx
import pytest

import coursegen
from coursegen import (
    CourseRequest,
    MalformedResponse,
    Operation,
    RetryPolicy,
    webhooks,
)
from coursegen.wire import parse_json, parse_rate_limit_headers, parse_retry_after
from mangle import REQUESTS, STALL, Answer, kind_of, mangled
from toy import BASE, ToyVendor, registry

pytestmark = pytest.mark.anyio

HUGE = "9" * 400
KEY = "KEY-s3cr3t-0123456789"


def toy(vendor: ToyVendor | None = None, **settings: Any) -> coursegen.Client:
    return coursegen.connect(
        f"toy://{KEY}@toy.example",
        registry=registry(),
        transport=(vendor or ToyVendor()).transport(),
        retry=settings.pop("retry", RetryPolicy(attempts=3, initial=1.0, maximum=4.0)),
        seed=1,
        **settings,
    )


def toy_answering(handler: Any, **settings: Any) -> coursegen.Client:
    return coursegen.connect(
        f"toy://{KEY}@toy.example",
        registry=registry(),
        transport=httpx.MockTransport(handler),
        retry=settings.pop("retry", RetryPolicy(attempts=3, initial=1.0, maximum=4.0)),
        seed=1,
        **settings,
    )


# ------------------------------------------------------------------ 1: header numbers


@pytest.mark.parametrize("value", [HUGE, "inf", "nan", "-5", "1" + "0" * 40])
def test_numeric_headers_out_of_range_count_as_absent(value: str) -> None:
    """Every pacing header number goes through one bounded parser: never OverflowError."""
    headers = {"RateLimit-Limit": value, "RateLimit-Remaining": value, "RateLimit-Reset": value}
    state = parse_rate_limit_headers(headers)
    assert state is None or (state.limit, state.remaining, state.reset_after) == (None,) * 3
    assert parse_retry_after({"Retry-After": value}) is None
    absolute = parse_rate_limit_headers(
        {"X-RateLimit-Reset": value, "Date": "Tue, 01 Dec 2026 10:00:00 GMT"},
        prefix="X-RateLimit-",
        reset="absolute",
    )
    assert absolute is None or absolute.reset_after is None


@pytest.mark.parametrize("provider", ["learningstudio", "tutorflow"])
async def test_huge_rate_limit_headers_on_every_answer_leave_jobs_running(provider: str) -> None:
    """309+ digit RateLimit-* / X-RateLimit-* values on creates and polls: the job ends."""

    def huge(request: httpx.Request, answer: Answer) -> None:
        for prefix in ("RateLimit-", "X-RateLimit-"):
            answer.headers += [(prefix + name, HUGE) for name in ("Limit", "Remaining", "Reset")]

    async with mangled(provider, huge) as (client, _, _):
        job = await client.submit(REQUESTS[provider])
        assert await job.result() is not None


# ------------------------------------------------------------------ 2, 6: encodings


async def test_a_create_answer_that_lies_about_its_encoding_is_malformed_with_raw() -> None:
    """`Content-Encoding: gzip` on a plain body: MalformedResponse whose raw is the bytes."""
    received: list[bytes] = []

    def lie(request: httpx.Request, answer: Answer) -> None:
        if kind_of(request) == "create":
            answer.headers.append(("Content-Encoding", "gzip"))
            received.append(answer.body)

    async with mangled("learningstudio", lie) as (client, _, _):
        with pytest.raises(MalformedResponse) as caught:
            await client.submit(REQUESTS["learningstudio"])
    assert caught.value.raw == received[0].decode()
    assert "gzip" in caught.value.message


@pytest.mark.parametrize("provider", ["learningstudio", "tutorflow", "edumate"])
async def test_polls_that_lie_about_their_encoding_are_retried(provider: str) -> None:
    """Two polls whose bodies do not match their encoding (deflate, gzip): retried, no
    DecodingError out of the client's task group, and the job ends."""
    lies = iter(["deflate", "gzip"])

    def lie(request: httpx.Request, answer: Answer) -> None:
        if kind_of(request) == "poll" and (coding := next(lies, None)):
            answer.headers.append(("Content-Encoding", coding))

    async with mangled(provider, lie) as (client, _, _):
        job = await client.submit(REQUESTS[provider])
        assert await job.result() is not None


async def test_raw_is_the_body_received_not_a_decoded_blank() -> None:
    """A gzip body that decodes to non-JSON: raw is its text; a truncated gzip stream is
    refused whole (raw: the bytes that came), never half-decoded."""
    page = b"<html>proxy error</html>"
    # Compressed once: gzip's header holds the time of compression, which would differ.
    compressed = gzip.compress(page)
    bodies = iter([compressed, compressed[:-8]])

    def answer_with(request: httpx.Request, answer: Answer) -> None:
        answer.headers.append(("Content-Encoding", "gzip"))
        answer.body = next(bodies)

    async with mangled("learningstudio", answer_with) as (client, _, _):
        with pytest.raises(MalformedResponse) as decoded:
            await client.submit(REQUESTS["learningstudio"])
        with pytest.raises(MalformedResponse) as truncated:
            await client.submit(REQUESTS["learningstudio"])
    assert decoded.value.raw == page.decode()
    assert "truncated" in truncated.value.message
    assert truncated.value.raw == compressed[:-8].decode("utf-8", "replace")


# ------------------------------------------------------------------ 3: deep webhooks


def test_deep_json_is_refused_before_parsing() -> None:
    """`[` * 100_000 (and deep objects) are MalformedResponse, not RecursionError."""
    for body in (b"[" * 100_000, b'{"a":' * 50_000, b"[" * 65 + b"]" * 65):
        with pytest.raises(MalformedResponse, match="nested deeper"):
            parse_json(body, provider="x")
    assert parse_json(b'["[[[[", ' * 1 + b"[" * 10 + b"]" * 10 + b"]", provider="x")


async def test_a_deep_unsigned_webhook_is_a_400_receipt() -> None:
    """LearningStudioAI webhooks are unsigned: a deep body posted by anyone is a 400."""
    async with coursegen.connect("sandbox+learningstudio://") as client:
        receipt = await webhooks.receive(client, {}, b"[" * 100_000)
    assert receipt.status_code == 400
    assert "nested deeper" in receipt.message


# ------------------------------------------------------------------ 4: Retry-After, deadlines


@pytest.mark.parametrize("retry_after", [HUGE, "31536000"])
async def test_a_huge_retry_after_waits_at_most_max_hint(retry_after: str) -> None:
    """A 429 saying "retry in a year" (or 400 digits) on a create waits `max_hint`, then
    the create goes out and succeeds."""
    answers = iter([httpx.Response(429, headers={"Retry-After": retry_after}, json={})])

    def vendor(request: httpx.Request) -> httpx.Response:
        return next(answers, None) or httpx.Response(202, json={"id": "j1", "status": "queued"})

    async with toy_answering(vendor, retry=RetryPolicy(max_hint=120.0)) as client:
        start = anyio.current_time()
        job = await client.submit(CourseRequest(subject="x"))
        waited = anyio.current_time() - start
    assert job.id == "j1"
    assert 0 < waited <= 125.0  # virtual time: the cap, plus at most one backoff


async def test_submit_has_a_deadline_and_a_typed_error() -> None:
    """A vendor that answers 429 for ever: submit() ends by RetryPolicy.deadline with
    RequestTimeout naming the last failure, instead of never returning."""

    def vendor(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "60"}, json={})

    policy = RetryPolicy(attempts=100, deadline=300.0)
    async with toy_answering(vendor, retry=policy) as client:
        start = anyio.current_time()
        with pytest.raises(coursegen.RequestTimeout, match="deadline") as caught:
            await client.submit(CourseRequest(subject="x"))
        assert anyio.current_time() - start <= 300.0 + 1e-6
    assert "RateLimited" in str(caught.value) or "slow down" in str(caught.value)


# ------------------------------------------------------------------ 5: empty job ids


@pytest.mark.parametrize("job_id", ["", "   "])
async def test_a_create_answer_without_a_job_id_is_malformed_with_raw(job_id: str) -> None:
    """`{"id": ""}` answering a create is MalformedResponse with the body, at submit()."""
    body = {"id": job_id, "status": "queued"}

    def vendor(request: httpx.Request) -> httpx.Response:
        return httpx.Response(202, json=body)

    async with toy_answering(vendor) as client:
        with pytest.raises(MalformedResponse, match="without a job id") as caught:
            await client.submit(CourseRequest(subject="x"))
    assert json.loads(caught.value.raw or "") == body


async def test_learningstudio_empty_job_id_is_malformed() -> None:
    """LearningStudioAI's `{"jobId": ""}` (status and all) is refused the same way."""

    def empty_id(request: httpx.Request, answer: Answer) -> None:
        if kind_of(request) == "create":
            data = json.loads(answer.body)
            data["jobId"] = ""
            answer.body = json.dumps(data).encode()

    async with mangled("learningstudio", empty_id) as (client, _, _):
        with pytest.raises(MalformedResponse) as caught:
            await client.submit(REQUESTS["learningstudio"])
    assert '"jobId": ""' in (caught.value.raw or "")


# ------------------------------------------------------------------ 7: stalled polls


async def test_a_stalled_poll_frees_its_slot_and_is_retried() -> None:
    """With one slot in flight and a transport without a timeout, a poll that never
    answers ends at `attempt_timeout`: the other job still finishes, and so does it."""
    stalled = {"done": False}

    def stall_once(request: httpx.Request, answer: Answer) -> object:
        if kind_of(request) == "poll" and not stalled["done"]:
            stalled["done"] = True
            return STALL
        return None

    policy = RetryPolicy(attempts=3, initial=0.5, maximum=2.0, attempt_timeout=20.0)
    async with mangled("tutorflow", stall_once, retry=policy) as (client, _, _):
        client._engine._max_in_flight = 1
        first = await client.submit(REQUESTS["tutorflow"])
        second = await client.submit(REQUESTS["tutorflow"])
        with anyio.fail_after(3600):
            assert await first.result() is not None
            assert await second.result() is not None
    assert stalled["done"]


# ------------------------------------------------------------------ 10: lost creates


@pytest.mark.parametrize(
    ("fault", "outcome"),
    [
        (httpx.ConnectError("refused"), "retried"),
        (httpx.ConnectTimeout("no route"), "retried"),
        (httpx.ReadError("reset"), coursegen.SubmitOutcomeUnknown),
        (httpx.RemoteProtocolError("closed"), coursegen.SubmitOutcomeUnknown),
    ],
)
async def test_a_create_is_retried_only_when_it_provably_never_left(
    fault: Exception, outcome: object
) -> None:
    """A non-idempotent create: connect faults are retried; a fault after sending (no
    trace of httpcore to say otherwise) is SubmitOutcomeUnknown."""
    faults = iter([fault])

    def vendor(request: httpx.Request) -> httpx.Response:
        if (failure := next(faults, None)) is not None:
            raise failure
        return httpx.Response(202, json={"id": "j1", "status": "queued"})

    async with toy_answering(vendor) as client:
        if outcome == "retried":
            assert (await client.submit(CourseRequest(subject="x"))).id == "j1"
        else:
            with pytest.raises(coursegen.SubmitOutcomeUnknown):
                await client.submit(CourseRequest(subject="x"))


class _Traced(httpx.AsyncBaseTransport):
    """Reports httpcore-like trace events, then fails: how far the request got."""

    def __init__(self, events: list[str]) -> None:
        self.events = events
        self.calls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        trace = request.extensions["trace"]
        if self.calls == 1:
            for event in self.events:
                await trace(event, {})
            raise httpx.ReadError("connection reset by peer")
        return httpx.Response(202, json={"id": "j1", "status": "queued"})


@pytest.mark.parametrize(
    ("events", "retried"),
    [
        (["http11.send_request_headers.started", "http11.send_request_headers.failed"], True),
        (["http11.send_request_headers.complete", "http11.send_request_body.failed"], True),
        (["http11.send_request_body.complete", "http11.receive_response_headers.failed"], False),
    ],
)
async def test_httpcore_progress_tells_an_unsent_create_from_a_lost_answer(
    events: list[str], retried: bool
) -> None:
    """A ReadError before the request was completely written is retried; after, it is
    SubmitOutcomeUnknown."""
    transport = _Traced(events)
    client = coursegen.connect(
        f"toy://{KEY}@toy.example", registry=registry(), transport=transport, seed=1
    )
    async with client:
        if retried:
            assert (await client.submit(CourseRequest(subject="x"))).id == "j1"
        else:
            with pytest.raises(coursegen.SubmitOutcomeUnknown):
                await client.submit(CourseRequest(subject="x"))


@pytest.mark.real_clock
@pytest.mark.parametrize("anyio_backend", ["asyncio"], indirect=True)
async def test_a_create_after_a_500_on_a_closed_keep_alive_connection_is_not_lost() -> None:
    """Served EduMate (uvicorn) closes the connection after a 500, as the real server
    does: the next create still arrives once, instead of SubmitOutcomeUnknown."""
    from coursegen.sandbox import Faults, serve  # noqa: PLC0415 - Starlette for this test

    sandbox = _edumate()
    async with serve(sandbox) as url:
        sandbox.faults = Faults(error_rate=1.0, error_closes_after=0.3)
        client = coursegen.connect(f"edumate+{url.replace('http://', 'http://')}", environ={})
        async with client:
            for _ in range(3):
                with pytest.raises(coursegen.ProviderUnavailable):
                    await client.submit(REQUESTS["edumate"])
                sandbox.faults = Faults(error_closes_after=0.3)
                job = await client.submit(REQUESTS["edumate"])
                assert job.id
                sandbox.faults = Faults(error_rate=1.0, error_closes_after=0.3)
    created = [r for r in sandbox.requests if r.method == "POST" and r.status == 200]
    assert len(created) == 3


def _edumate() -> Any:
    factory = coursegen.default_registry().get("edumate").sandbox
    assert factory is not None
    return factory(speed=1.0, seed=0)


# ------------------------------------------------------------------ 11: idempotent creates


async def test_an_unreadable_answer_to_an_idempotent_create_is_replayed() -> None:
    """TutorFlow: the first create's 2xx answer is garbled; the create is sent again with
    the same Idempotency-Key, the replay answers the original: one job, one handle."""
    garbled = {"done": False}

    def garble_once(request: httpx.Request, answer: Answer) -> None:
        if kind_of(request) == "create" and not garbled["done"]:
            garbled["done"] = True
            answer.body = answer.body[: len(answer.body) // 2]

    async with mangled("tutorflow", garble_once) as (client, sandbox, _):
        job = await client.submit(REQUESTS["tutorflow"])
        assert await job.result() is not None
    creates = [r for r in sandbox.requests if r.method == "POST"]
    keys = {httpx.Headers(dict(r.headers))["idempotency-key"] for r in creates}
    assert len(creates) == 2
    assert len(keys) == 1
    polled = {r.path for r in sandbox.requests if r.method == "GET"}
    assert polled == {f"/v1/platform/courses/{job.id}"}


# ------------------------------------------------------------------ 17, 18: secrets


@pytest.mark.parametrize("key", ["ls_KEY\n", "ls_KEY\r\n", "ls KEY", "ls_\x00KEY", " ls_KEY"])
def test_a_key_with_whitespace_or_control_characters_is_refused_unseen(key: str) -> None:
    """connect() refuses such a key with ConfigurationError that does not show it."""
    with pytest.raises(coursegen.ConfigurationError) as caught:
        coursegen.connect("learningstudio", api_key=key, environ={})
    assert "ls_KEY" not in str(caught.value)
    assert "KEY" not in str(caught.value)


def test_the_cli_never_prints_a_key_with_a_newline(tmp_path: Any) -> None:
    """`coursegen generate` with a key ending in CR LF: a configuration error, no key.

    The base URL is a closed loopback port: nothing could reach a vendor either way."""
    env = {
        "LEARNINGSTUDIO_API_KEY": "ls_S3CRET\r\n",
        "COURSEGEN_LEARNINGSTUDIO_BASE_URL": "http://127.0.0.1:9",
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path),
    }
    command = ("generate", "Knots", "--provider", "learningstudio", "--no-wait")
    done = subprocess.run(  # noqa: S603 - our own CLI, run by our own interpreter
        [sys.executable, "-m", "coursegen", *command],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert done.returncode != 0
    assert "api_key" in done.stderr
    assert "S3CRET" not in done.stderr + done.stdout


async def test_http_stack_debug_logs_are_masked(caplog: pytest.LogCaptureFixture) -> None:
    """While a client is open, a httpcore/httpx log line holding its key is masked."""
    caplog.set_level(logging.DEBUG)
    async with toy() as client:
        await client.submit(CourseRequest(subject="x"))
        logging.getLogger("httpcore.http11").debug("send headers %r", f"Bearer {KEY}")
        logging.getLogger("httpx").debug("header line: Authorization: Bearer %s", KEY)
    lines = [record.getMessage() for record in caplog.records]
    assert any("********" in line for line in lines)
    assert all(KEY not in line for line in lines)


async def test_a_key_echoed_by_the_vendor_is_masked_in_raw_and_messages() -> None:
    """A 400 body and a 2xx unreadable body repeating the key: masked in raw, message."""
    answers = iter(
        [
            httpx.Response(400, json={"error": f"bad key {KEY}"}),
            httpx.Response(202, text=f"<html>Authorization: Bearer {KEY}</html>"),
        ]
    )

    def vendor(request: httpx.Request) -> httpx.Response:
        return next(answers)

    async with toy_answering(vendor) as client:
        with pytest.raises(coursegen.ProviderError) as refused:
            await client.submit(CourseRequest(subject="x"))
        with pytest.raises(MalformedResponse) as unreadable:
            await client.submit(CourseRequest(subject="x"))
    for error in (refused.value, unreadable.value):
        assert KEY not in (error.raw or "") + str(error) + repr(error)
        assert "********" in (error.raw or "")


# ------------------------------------------------------------------ 19: host pinning


async def test_no_request_leaves_the_configured_host_unless_keyless() -> None:
    """A key in X-Api-Key to another host is refused; so is any keyed operation to another
    host, and a keyless one carrying a secret; a clean keyless request may go."""
    seen: list[str] = []

    def anywhere(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={})

    async with toy_answering(anywhere) as client:
        sender = client._running.sender
        for operation, headers in [
            (Operation.POLL, {"X-Api-Key": KEY}),
            (Operation.POLL, {}),
            (Operation.PUBLIC, {"X-Api-Key": KEY}),
            (Operation.PUBLIC, {"X-Trace": f"k={KEY}"}),
        ]:
            request = httpx.Request("GET", "https://cdn.example/page", headers=headers)
            with pytest.raises(coursegen.ConfigurationError) as caught:
                await sender.send(operation, request, lambda response: response)
            assert KEY not in str(caught.value)
        assert seen == []
        public = httpx.Request("GET", "https://cdn.example/page")
        await sender.send(Operation.PUBLIC, public, lambda response: response)
        inside = httpx.Request("GET", f"{BASE}/jobs/j1", headers={"X-Api-Key": KEY})
        await sender.send(Operation.POLL, inside, lambda response: response)
    assert seen == ["https://cdn.example/page", f"{BASE}/jobs/j1"]


# ------------------------------------------------------------------ 21: user input


@pytest.mark.parametrize(
    "fields",
    [
        {"subject": None},
        {"subject": 42},
        {"subject": "x", "outline": 42},
        {"subject": "x", "outline": ["a", 3]},
        {"subject": "x", "add_ons": 42},
        {"subject": "x", "extra": [1]},
        {"subject": "x", "level": 5},
        {"subject": "x", "title": b"t"},
        {"subject": "x", "language": "english"},
        {"subject": "x", "language": 7},
    ],
)
def test_bad_request_fields_are_invalid_request(fields: dict[str, Any]) -> None:
    """Wrong types and a locale that is not BCP-47 raise InvalidRequest at construction."""
    with pytest.raises(coursegen.InvalidRequest):
        CourseRequest(**fields)


def test_bad_assessment_fields_are_invalid_request() -> None:
    """AssessmentRequest: no topic, a number for a source, a list for a mix."""
    for fields in ({"topic": None}, {"topic": "t", "source": 5}, {"topic": "t", "bloom_mix": [1]}):
        with pytest.raises(coursegen.InvalidRequest):
            coursegen.AssessmentRequest(**fields)


async def test_a_bad_locale_spends_no_request() -> None:
    """`language="english"` fails before submit() could send anything."""
    vendor = ToyVendor()
    async with toy(vendor):
        with pytest.raises(coursegen.InvalidRequest):
            CourseRequest(subject="x", language="english")
    assert not vendor.router.calls
