"""Fuzzed vendor answers: only `CourseGenError` subclasses escape, raw attached, no hang.

Hypothesis rewrites the sandboxes' own answers (tests/mangle.py) to every provider's
creates and polls, and posts made-up webhooks: status codes, pacing headers with huge or
absurd numbers, a `Content-Encoding` that lies or tells the truth, and bodies nested
deep, of the wrong JSON types, not UTF-8, truncated, empty or random. Every example
runs on virtual time (asyncio and trio), so a hang is a failure found in milliseconds.

The normal run is deterministic (`derandomize`, a small `max_examples`); `nox -s fuzz`
runs the `fuzz` profile (`HYPOTHESIS_PROFILE`, budget `COURSEGEN_FUZZ_EXAMPLES`) and
prints the examples run per provider and answer kind, and the untyped exceptions (0).
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import os
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import StopTest

from coursegen import CourseGenError, MalformedResponse, webhooks
from coursegen.testing import virtual_backend
from mangle import PROVIDERS, REQUESTS, STALL, Answer, kind_of, mangled

HUGE = "9" * 400
_EXAMPLES = int(os.environ.get("COURSEGEN_FUZZ_EXAMPLES", "0") or 0)
settings.register_profile(
    "ci",
    max_examples=12,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
settings.register_profile(
    "fuzz",
    max_examples=_EXAMPLES or 200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
settings.load_profile(PROFILE)

RUN: Counter[str] = Counter()
"""Examples run, by "provider/kind", and "untyped" (must stay 0): the fuzz report."""
WEBHOOK_SECRET = "whsec_fuzz_0123456789"
NEVER = 36_000.0
"""Virtual seconds after which an example counts as hung (ten vendor hours)."""

STATUSES = st.sampled_from(
    [200, 200, 200, 201, 202, 204, 301, 400, 401, 402, 403, 404, 409, 410, 422, 429, 500, 503]
)
NUMBERS = st.sampled_from([HUGE, "1" + "0" * 309, "inf", "nan", "-1", "0", "1e9", "3.5", "x", ""])
HEADER_NAMES = st.sampled_from(
    [
        "RateLimit-Limit",
        "RateLimit-Remaining",
        "RateLimit-Reset",
        "X-RateLimit-Limit",
        "X-RateLimit-Remaining",
        "X-RateLimit-Reset",
        "Retry-After",
        "Date",
        "Content-Type",
    ]
)
HEADER_VALUES = st.one_of(
    NUMBERS,
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=24),
    st.just("Tue, 01 Dec 2026 10:00:00 GMT"),
    st.just("application/json; charset=utf-16"),
)
CODINGS = st.sampled_from([None, "gzip", "deflate", "identity", "br", "x-unknown", "gzip, gzip"])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value).encode()  # NaN and Infinity too: vendors' bugs send them


def _field(data: st.DataObject, original: bytes) -> bytes:
    """The vendor's answer with one field's value replaced by any JSON value."""
    try:
        parsed = json.loads(original)
    except ValueError:
        return original
    if isinstance(parsed, dict) and parsed:
        parsed[data.draw(st.sampled_from(sorted(parsed)))] = data.draw(JSON)
    return _json_bytes(parsed)


def _deep(data: st.DataObject) -> bytes:
    depth = data.draw(st.integers(60, 100_000))
    shapes = [b"[" * depth, b'{"a":' * depth, b"[" * depth + b"]" * depth]
    return data.draw(st.sampled_from(shapes))


_BODIES: dict[str, Any] = {
    "keep": lambda _, original: original,
    "field": _field,
    "json": lambda data, _: _json_bytes(data.draw(JSON)),
    "deep": lambda data, _: _deep(data),
    "binary": lambda data, _: data.draw(st.binary(max_size=256)),
    "latin": lambda _, original: original.replace(b'"', b'"\xe9', 1) + b"\xff\xfe",
    "cut": lambda data, original: original[: data.draw(st.integers(0, max(len(original) - 1, 0)))],
    "empty": lambda _, __: b"",
}


def _body(data: st.DataObject, original: bytes) -> bytes:
    """One fuzzed body, most of them close to the vendor's own answer."""
    kinds = ["keep", "field", "field", "json", "deep", "binary", "latin", "cut", "empty"]
    body: bytes = _BODIES[data.draw(st.sampled_from(kinds))](data, original)
    return body


def _encode(body: bytes, coding: str | None, honest: bool) -> bytes:
    if not honest or coding is None:
        return body
    # mtime=0: the same draws make the same bytes (gzip's header holds a time otherwise).
    if coding == "gzip":
        return gzip.compress(body, mtime=0)
    if coding == "deflate":
        return zlib.compress(body)
    if coding == "gzip, gzip":
        return gzip.compress(gzip.compress(body, mtime=0), mtime=0)
    return body


def fuzz_answer(data: st.DataObject, answer: Answer) -> object:
    """Rewrite one answer from the draws: status, headers, encoding, body; rarely a stall."""
    if data.draw(st.integers(0, 40)) == 0:
        return STALL
    if data.draw(st.booleans()):
        answer.status = data.draw(STATUSES)
    answer.headers += data.draw(st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=4))
    body = _body(data, answer.body)
    coding = data.draw(CODINGS)
    if coding is not None:
        answer.headers.append(("Content-Encoding", coding))
    answer.body = _encode(body, coding, honest=data.draw(st.booleans()))
    return None


def _check(exc: BaseException) -> None:
    """What may escape: a CourseGenError, and an unreadable answer carries its body."""
    if isinstance(exc, StopTest | anyio.get_cancelled_exc_class()):
        # Hypothesis out of data mid-example, and the cancellation that follows it
        # through the client: the harness's own control flow, not the client's.
        raise exc
    if not isinstance(exc, CourseGenError):
        RUN["untyped"] += 1
        RUN[f"untyped {type(exc).__module__}.{type(exc).__qualname__}"] += 1
        raise exc
    if isinstance(exc, MalformedResponse) and "over" not in exc.message:
        assert exc.raw is not None, exc


def _run(backend: str, body: Any) -> None:
    name, options = virtual_backend(backend)
    try:
        anyio.run(body, backend=name, backend_options=options)
    except StopTest:
        raise
    except BaseException as exc:
        # Out of the client itself (its task group ended), or a hang (TimeoutError):
        # nothing the checks inside could see. Hypothesis's own StopTest is no failure.
        if not (isinstance(exc, BaseExceptionGroup) and exc.split(StopTest)[1] is None):
            RUN["untyped"] += 1
            RUN[f"escaped {type(exc).__qualname__}"] += 1
        raise


async def _create(data: st.DataObject, provider: str) -> None:
    def mutate(request: httpx.Request, answer: Answer) -> object:
        return fuzz_answer(data, answer) if kind_of(request) == "create" else None

    async with mangled(provider, mutate) as (client, _, _):
        with anyio.fail_after(NEVER):
            try:
                await client.submit(REQUESTS[provider])
            except BaseException as exc:  # noqa: BLE001 - the point: see what escapes
                _check(exc)


async def _poll(data: st.DataObject, provider: str) -> None:
    fuzzed = data.draw(st.integers(1, 4))

    def mutate(request: httpx.Request, answer: Answer) -> object:
        nonlocal fuzzed
        if kind_of(request) == "poll" and fuzzed > 0:
            fuzzed -= 1
            return fuzz_answer(data, answer)
        return None

    async with mangled(provider, mutate) as (client, _, _):
        with anyio.fail_after(NEVER):
            job = await client.submit(REQUESTS[provider])
            try:
                await job.result(timeout=7200)
            except BaseException as exc:  # noqa: BLE001 - the point: see what escapes
                _check(exc)


def _unchanged(request: httpx.Request, answer: Answer) -> None:
    """Webhook examples leave the vendor's answers alone."""


WEBHOOK_EVENTS = st.sampled_from(
    ["course.deployed", "course.completed", "course.created", "course.failed", "x", ""]
)


async def _webhook(data: st.DataObject, provider: str) -> None:
    body = data.draw(
        st.one_of(
            st.builds(
                lambda event, inner: _json_bytes({"event": event, "data": inner}),
                WEBHOOK_EVENTS,
                st.dictionaries(
                    st.sampled_from(["id", "jobId", "status", "courseId", "error", "title"]),
                    JSON,
                    max_size=5,
                ),
            ),
            st.builds(_json_bytes, JSON),
            st.binary(max_size=128),
            st.integers(60, 100_000).map(lambda depth: b"[" * depth),
        )
    )
    headers = dict(data.draw(st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=2)))
    if data.draw(st.booleans()):
        key = WEBHOOK_SECRET.encode()
        headers["X-Platform-Signature"] = hmac.new(key, body, hashlib.sha256).hexdigest()
    if data.draw(st.booleans()):
        headers["X-Platform-Event"] = data.draw(WEBHOOK_EVENTS) or "course.deployed"
    async with mangled(provider, _unchanged, webhook_secret=WEBHOOK_SECRET) as (
        client,
        _,
        _,
    ):
        with anyio.fail_after(NEVER):
            try:
                receipt = await webhooks.receive(client, headers, body)
                assert 200 <= receipt.status_code < 500
                client.read_webhook(headers, body)
            except BaseException as exc:  # noqa: BLE001 - the point: see what escapes
                _check(exc)


KINDS = {"create": _create, "poll": _poll, "webhook": _webhook}


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("provider", PROVIDERS)
@given(data=st.data())
def test_fuzzed_answers_raise_only_typed_errors(
    provider: str, kind: str, backend: str, data: st.DataObject
) -> None:
    """Whatever the vendor answers (or posts), only CourseGenError escapes, with raw."""
    RUN[f"{provider}/{kind}"] += 1
    _run(backend, lambda: KINDS[kind](data, provider))


def teardown_module() -> None:
    """Where `nox -s fuzz` asks (`COURSEGEN_FUZZ_REPORT`), leave the counts as JSON."""
    report = os.environ.get("COURSEGEN_FUZZ_REPORT")
    if report:
        counts = {"profile": PROFILE, "untyped": RUN["untyped"], "examples": dict(RUN)}
        Path(report).write_text(json.dumps(counts, indent=2, sort_keys=True))
        del counts


def test_the_fuzz_mutations_change_answers() -> None:
    """A fuzzed answer differs from the vendor's: the fuzzers test something."""
    original = _json_bytes({"jobId": "j1", "status": "queued"})

    @given(data=st.data())
    @settings(max_examples=30, derandomize=True, database=None)
    def changed(data: st.DataObject) -> None:
        answer = Answer(200, [], original)
        if fuzz_answer(data, answer) is STALL:
            return
        changes.append(answer != Answer(200, [], original))

    changes: list[bool] = []
    changed()
    assert any(changes)
