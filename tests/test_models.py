"""The neutral model, request checks and job tokens."""

from __future__ import annotations

import pytest

import coursegen
from coursegen import (
    AssessmentRequest,
    Capabilities,
    CourseRequest,
    InvalidRequest,
    JobStatus,
    Secret,
    Snapshot,
)
from coursegen._features import check_request
from coursegen._job import JobToken

CAPS = Capabilities(
    request_kinds=frozenset({CourseRequest}), request_fields=frozenset({"subject", "extra"})
)


def test_terminal_statuses() -> None:
    """Exactly SUCCEEDED, FAILED, CANCELLED and EXPIRED are terminal."""
    assert {s for s in JobStatus if s.is_terminal} == {
        JobStatus.SUCCEEDED,
        JobStatus.FAILED,
        JobStatus.CANCELLED,
        JobStatus.EXPIRED,
    }


def test_unsupported_field_raises_naming_provider_and_field() -> None:
    """A set field the provider lacks raises UnsupportedFeature naming both."""
    with pytest.raises(coursegen.UnsupportedFeature) as caught:
        check_request(CourseRequest(subject="x", lesson_count=4), CAPS, "toy", strict=True)
    assert caught.value.provider == "toy"
    assert caught.value.fields == ("lesson_count",)
    assert "toy does not support lesson_count" in str(caught.value)


def test_unsupported_field_is_dropped_with_a_warning_when_not_strict() -> None:
    """With strict=False the field goes back to its default and a warning says so."""
    request = CourseRequest(subject="x", outline=("a",), extra={"k": 1})
    with pytest.warns(coursegen.UnsupportedFeatureWarning, match="outline"):
        checked = check_request(request, CAPS, "toy", strict=False)
    assert checked == CourseRequest(subject="x", extra={"k": 1})


def test_wrong_request_kind_is_unsupported() -> None:
    """An assessment request to a course-only provider is UnsupportedFeature."""
    with pytest.raises(coursegen.UnsupportedFeature, match="AssessmentRequest"):
        check_request(coursegen.AssessmentRequest(topic="x"), CAPS, "toy", strict=True)


def test_token_round_trip_and_damage() -> None:
    """A token decodes to what it encoded; a damaged one is a ConfigurationError."""
    token = JobToken("learningstudio", "8aF2k", "learningstudioai.com")
    assert JobToken.decode(token.encode()) == token
    with pytest.raises(coursegen.ConfigurationError, match="damaged"):
        JobToken.decode(token.encode()[:-4] + "!!!!")
    with pytest.raises(coursegen.ConfigurationError, match="not a coursegen job token"):
        JobToken.decode("8aF2k")


def test_a_token_names_its_endpoint_and_old_tokens_still_decode() -> None:
    """Scheme, host, port and the in-process flag round-trip; a pre-endpoint token reads
    as https on the default port, outside any sandbox."""
    served = JobToken("learningstudio", "8aF2k", "127.0.0.1", scheme="http", port=8000)
    assert JobToken.decode(served.encode()) == served
    assert served.origin == "http://127.0.0.1:8000"
    local = JobToken("edumate", "e3e7", "localhost", scheme="http", port=8000, sandbox=True)
    assert JobToken.decode(local.encode()).sandbox
    # Written by coursegen 0.1.0: {"p": ..., "j": ..., "h": ...} only.
    old = (
        "cg1.eyJwIjogImxlYXJuaW5nc3R1ZGlvIiwgImoiOiAiOGFGMmsiLCAiaCI6ICJs"
        "ZWFybmluZ3N0dWRpb2FpLmNvbSJ9"
    )
    assert JobToken.decode(old) == JobToken("learningstudio", "8aF2k", "learningstudioai.com")
    assert JobToken.decode(old).origin == "https://learningstudioai.com"


def test_secret_is_masked_everywhere_but_reveal() -> None:
    """A Secret prints as a mask in repr, str and format; reveal() gives the value."""
    secret = Secret("ls_abc")
    assert "ls_abc" not in f"{secret!r} {secret} {secret:>20}"
    assert secret.reveal() == "ls_abc"


def test_snapshot_same_state_ignores_raw_and_time() -> None:
    """Two snapshots differing only in raw body or observation time tell nothing new."""
    a = Snapshot(job_id="j", provider="p", status=JobStatus.RUNNING, progress=0.5, raw={"a": 1})
    b = Snapshot(job_id="j", provider="p", status=JobStatus.RUNNING, progress=0.5, raw={"b": 2})
    assert a.same_state(b)
    assert not a.same_state(Snapshot(job_id="j", provider="p", status=JobStatus.RUNNING))


def test_lone_outline_string_is_one_chapter() -> None:
    """outline="Hazards" means one chapter, not seven one-letter ones."""
    assert CourseRequest(subject="x", outline="Hazards").outline == ("Hazards",)


@pytest.mark.parametrize("subject", [None, 42, b"bytes"])
def test_a_request_without_text_is_a_typed_error_at_once(subject: object) -> None:
    """CourseRequest(subject=None or 42) raises InvalidRequest, a ValueError, when built."""
    with pytest.raises(InvalidRequest, match=r"CourseRequest\.subject must be text") as caught:
        CourseRequest(subject=subject)  # type: ignore[arg-type]
    assert isinstance(caught.value, ValueError)
    with pytest.raises(InvalidRequest, match=r"AssessmentRequest\.topic must be text"):
        AssessmentRequest(topic=subject)  # type: ignore[arg-type]


@pytest.mark.parametrize("language", ["english", "en_US", "e", "en-", "pt BR"])
def test_a_language_that_is_not_a_locale_is_refused_before_any_request(language: str) -> None:
    """`language` must look like a BCP-47 tag; "english" is refused with an example of one."""
    with pytest.raises(InvalidRequest, match="is not a locale: use a BCP-47 tag such as 'en'"):
        CourseRequest(subject="Knots", language=language)


@pytest.mark.parametrize("language", ["en", "en-US", "pt-BR", "zh-Hant-TW", "es-419"])
def test_locales_in_bcp47_shape_are_accepted(language: str) -> None:
    """Language, script, region and numeric region subtags are all accepted."""
    assert CourseRequest(subject="Knots", language=language).language == language


def test_stamp_copies_every_field_but_the_observation_time() -> None:
    """`stamp` (made without `attrs.evolve`, for speed) keeps every field of the snapshot,
    whatever fields Snapshot gains, and sets only `observed_at`."""
    import attrs  # noqa: PLC0415 - only this test needs it

    from coursegen._engine import stamp  # noqa: PLC0415 - as above

    values = {
        field.name: f"value of {field.name}"
        for field in attrs.fields(Snapshot)
        if field.name != "observed_at"
    }
    snapshot = Snapshot(**values)  # type: ignore[arg-type]  # any value: only copied
    stamped = stamp(snapshot)
    assert stamped.observed_at is not None
    assert {name: getattr(stamped, name) for name in values} == values
