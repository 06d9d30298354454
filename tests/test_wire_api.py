"""`coursegen.wire`'s adapter plumbing: what every adapter leaves to `VendorAPI` and friends."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import attrs
import httpx
import pytest

from coursegen import (
    AssessmentRequest,
    ConfigurationError,
    CourseRequest,
    JobErrorInfo,
    JobStatus,
    MalformedResponse,
    NotFound,
    QuotaExceeded,
    Secret,
    Settings,
    Snapshot,
    UnsupportedFeature,
    WebhookEvent,
    WebhookVerificationError,
)
from coursegen.wire import (
    VendorAPI,
    camel_case_converter,
    fraction_of_percent,
    job_error_info,
    query_params,
    request_of,
    seconds_of_ms,
    text_option,
    verify_hmac_sha256,
    whole_number_option,
)

API = VendorAPI("acme", "Acme", "https://api.acme.example")


def answer(body: Any, status: int = 400) -> httpx.Response:
    if isinstance(body, str):
        return httpx.Response(status, text=body)
    return httpx.Response(status, json=body)


def test_only_passes_the_kind_and_names_the_vendor_otherwise() -> None:
    """A request of the adapter's kind comes back as it is; another kind is
    UnsupportedFeature saying what the vendor generates."""
    request = CourseRequest(subject="x")
    assert API.only(request, CourseRequest, "courses") is request
    with pytest.raises(UnsupportedFeature, match="Acme generates courses only"):
        API.only(AssessmentRequest(topic="x", collection="c"), CourseRequest, "courses")


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"error": {"code": "bad", "message": "no"}}, ("bad", "no")),
        ({"code": "bad", "message": "no"}, ("bad", "no")),
        ({"code": "", "message": ""}, (None, None)),
        ({"statusCode": 400, "message": ["a", "b"], "error": "Bad Request"}, (None, "a; b")),
        ({"statusCode": 404, "error": "Not Found"}, (None, "Not Found")),
        ([1, 2], (None, None)),
        ("<html>502</html>", (None, None)),
    ],
)
def test_error_fields_reads_the_usual_shapes(body: Any, fields: tuple[Any, Any]) -> None:
    """The envelope, its contents unwrapped, a framework's default error; anything else
    gives no code and no message, so the status alone classifies."""
    assert API.error_fields(answer(body)) == fields


def test_check_job_refuses_an_answer_about_another_job() -> None:
    """The same id passes; another is MalformedResponse naming both, with the body."""
    response = answer({"id": "b"}, 200)
    API.check_job("a", "a", response)
    with pytest.raises(MalformedResponse, match="asked for job 'a', the answer is about job 'b'"):
        API.check_job("a", "b", response)


@attrs.frozen
class Done:
    event: str
    job_id: str


def test_webhook_body_reads_its_event_and_models() -> None:
    """The event name (text only), the body as a wire model, and snapshot events that
    carry the body, the event as vendor status, and the verification flag."""
    hook = API.webhook(b'{"event": "done", "jobId": "j1"}', verified=True)
    assert hook.event == "done"
    done = hook.read(camel_case_converter(), Done)
    assert done == Done("done", "j1")
    event = hook.job_event("done", done.job_id, JobStatus.SUCCEEDED, progress=1.0)
    assert event == WebhookEvent(
        "acme",
        "done",
        "j1",
        snapshot=Snapshot(
            job_id="j1",
            provider="acme",
            status=JobStatus.SUCCEEDED,
            vendor_status="done",
            progress=1.0,
        ),
        verified=True,
    )
    assert event.raw == hook.data
    assert hook.event_of("other", "j1") == WebhookEvent("acme", "other", "j1", verified=True)
    assert API.webhook(b'{"event": 5}').event is None


def test_webhook_body_errors_carry_the_body() -> None:
    """A body that is not JSON, or not the model, is MalformedResponse with the body."""
    with pytest.raises(MalformedResponse):
        API.webhook(b"not json")
    hook = API.webhook(b'{"event": "done"}')
    with pytest.raises(MalformedResponse) as caught:
        hook.read(camel_case_converter(), Done)
    assert caught.value.raw == '{"event": "done"}'
    assert hook.malformed("odd").raw == '{"event": "done"}'


def signature(key: bytes, body: bytes) -> str:
    return hmac.new(key, body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize("prefix", ["", "sha256=", "SHA256="])
def test_verify_hmac_accepts_any_of_the_keys(prefix: str) -> None:
    """The hex HMAC-SHA256 of the body under any one key passes, prefixed or not."""
    body = b'{"event": "x"}'
    for key in (b"one", b"two"):
        verify_hmac_sha256(body, prefix + signature(key, body), (b"one", b"two"), header="X-Sig")


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (None, "the X-Sig header is missing"),
        ("", "the X-Sig header is missing"),
        ("not-hex", "X-Sig is not a hex HMAC-SHA256"),
        ("0" * 64, "X-Sig does not match the body"),
    ],
)
def test_verify_hmac_refuses_a_missing_malformed_or_wrong_signature(
    given: str | None, message: str
) -> None:
    """Each way a signature fails is WebhookVerificationError naming the header."""
    with pytest.raises(WebhookVerificationError, match=message):
        verify_hmac_sha256(b"{}", given, (b"one",), header="X-Sig")


def test_verify_hmac_refuses_a_signature_of_another_body() -> None:
    """A signature made for one body does not pass for another."""
    with pytest.raises(WebhookVerificationError, match="does not match"):
        verify_hmac_sha256(b"{}", signature(b"one", b"[]"), (b"one",), header="X-Sig")


@pytest.mark.parametrize(
    ("percent", "fraction"),
    [(None, None), (50, 0.5), (150, 1.0), (-5, 0.0), (float("nan"), None), (float("inf"), None)],
)
def test_fraction_of_percent(percent: float | None, fraction: float | None) -> None:
    """0-100 becomes 0.0-1.0, clamped; none or not finite is None."""
    assert fraction_of_percent(percent) == fraction


@pytest.mark.parametrize(("ms", "seconds"), [(None, None), (-1, None), (0, 0.0), (2500, 2.5)])
def test_seconds_of_ms(ms: float | None, seconds: float | None) -> None:
    """Milliseconds become seconds; none or negative is None."""
    assert seconds_of_ms(ms) == seconds


@pytest.mark.parametrize(
    ("value", "info"),
    [
        ({"message": "boom", "code": "E1"}, JobErrorInfo("boom", code="E1")),
        ({"message": "", "code": 5}, JobErrorInfo("no reason")),
        ("boom", JobErrorInfo("boom")),
        ("", JobErrorInfo("no reason")),
        (None, JobErrorInfo("no reason")),
        (7, JobErrorInfo("no reason")),
    ],
)
def test_job_error_info(value: object, info: JobErrorInfo) -> None:
    """An object's message and code, a string, or the fallback when neither says anything."""
    assert job_error_info(value, fallback="no reason") == info


def settings(**options: Any) -> Settings:
    return Settings(provider="acme", base_url="https://api.acme.example", options=options)


def test_text_option() -> None:
    """Unset is None, text comes back stripped, anything else is ConfigurationError."""
    assert text_option(settings(), "tier", vendor="Acme") is None
    assert text_option(settings(tier=" pro "), "tier", vendor="Acme") == "pro"
    for bad in ("  ", 5):
        with pytest.raises(ConfigurationError, match="Acme setting 'tier' must be a non-empty"):
            text_option(settings(tier=bad), "tier", vendor="Acme")


def test_whole_number_option() -> None:
    """Unset is the default, an int or its digits are read, anything else (a bool, zero,
    a fraction, words) is ConfigurationError naming the unit."""
    read = {"vendor": "Acme", "unit": "requests per minute"}
    assert whole_number_option(settings(), "rate", 60, **read) == 60
    assert whole_number_option(settings(rate=" 1000 "), "rate", 60, **read) == 1000
    assert whole_number_option(settings(rate=5), "rate", 60, **read) == 5
    for bad in (True, 0, 1.5, "many"):
        with pytest.raises(ConfigurationError, match="whole number of requests per minute"):
            whole_number_option(settings(rate=bad), "rate", 60, **read)


def test_event_named_prefers_the_header_and_wants_the_body_to_agree() -> None:
    """The header names the event, else the body; a disagreement is a verification
    failure (only the body is signed) and naming none is MalformedResponse."""
    hook = API.webhook(b'{"event": "a"}')
    assert hook.event_named("a", header="X-Event") == "a"
    assert hook.event_named(None, header="X-Event") == "a"
    assert API.webhook(b"{}").event_named("b", header="X-Event") == "b"
    with pytest.raises(WebhookVerificationError, match="the X-Event header"):
        hook.event_named("b", header="X-Event")
    with pytest.raises(MalformedResponse, match="no X-Event header, no body event"):
        API.webhook(b"{}").event_named(None, header="X-Event")


def test_read_error_classifies_by_code_and_redacts_the_message() -> None:
    """The code table first, the status otherwise; a secret echoed in the message is masked."""
    api = VendorAPI("acme", "Acme", "https://api.acme.example", api_key=Secret("sk_live_1"))
    body = {"error": {"code": "spent", "message": "key sk_live_1 is spent"}}
    error = api.read_error(answer(body, 403), codes={"spent": QuotaExceeded})
    assert isinstance(error, QuotaExceeded)
    assert error.vendor_code == "spent"
    assert "sk_live_1" not in str(error)
    assert isinstance(api.read_error(answer("<html/>", 404), codes={}), NotFound)


def test_query_params_writes_scalars_and_names_what_cannot_be_one() -> None:
    """Text and numbers as written, booleans as true/false, None kept (it removes a
    parameter); a list or NaN is a problem naming its key and the vendor."""
    params, problems = query_params(
        {"a": "x", "b": 3, "c": 1.5, "d": True, "e": None, "f": [1], "g": float("nan")},
        vendor="Acme",
    )
    assert params == {"a": "x", "b": "3", "c": "1.5", "d": "true", "e": None}
    assert problems == [
        "extra['f'] cannot be a query parameter: Acme takes text, numbers and booleans, not list",
        "extra['g'] cannot be a query parameter: Acme takes text, numbers and booleans, not float",
    ]


def test_request_of_is_none_for_a_response_built_without_one() -> None:
    """A canned response has no request; an answered one gives it back."""
    assert request_of(httpx.Response(200)) is None
    sent = API.get("jobs")
    assert request_of(httpx.Response(200, request=sent)) is sent


def test_upload_is_multipart_with_extensions_that_are_not_sent() -> None:
    """A multipart POST under the base, with the API's headers and the given extensions."""
    request = API.upload(
        "files", files={"file": ("a.pdf", b"%PDF", "application/pdf")}, extensions={"k": 1}
    )
    assert request.method == "POST"
    assert request.url == "https://api.acme.example/files"
    assert request.headers["Content-Type"].startswith("multipart/form-data")
    assert b"%PDF" in request.read()
    assert request.extensions["k"] == 1


def test_server_scope_names_the_host_and_port() -> None:
    """One budget per server: its host, and its port when the base names one."""
    assert API.server_scope() == "server-api.acme.example"
    assert VendorAPI("a", "A", "http://localhost:8000").server_scope() == "server-localhost:8000"
