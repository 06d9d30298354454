"""The adapter toolkit in `coursegen.wire`: bodies, shapes, error classes, pacing headers."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import attrs
import cattrs
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from coursegen import (
    AuthenticationError,
    Conflict,
    InvalidRequest,
    MalformedResponse,
    NotFound,
    PermissionDenied,
    ProviderError,
    ProviderUnavailable,
    QuotaExceeded,
    RateLimited,
    RateLimitState,
)
from coursegen.wire import (
    camel_case,
    camel_case_converter,
    error_class_for_status,
    parse_json,
    parse_rate_limit_headers,
    parse_retry_after,
    provider_error,
    read_json,
    structure,
)

DATE = "Tue, 28 Apr 2026 17:14:08 GMT"
DATE_UNIX = datetime(2026, 4, 28, 17, 14, 8, tzinfo=UTC).timestamp()


@attrs.frozen
class Owner:
    display_name: str
    joined_at: datetime | None = None


@attrs.frozen
class Item:
    item_id: str
    unit_price: Decimal
    owner: Owner | None = None
    tag_names: tuple[str, ...] = ()
    owners: list[Owner] = attrs.field(factory=list)
    score: float | None = None
    count: int | None = None
    active: bool | None = None


@pytest.fixture
def converter() -> cattrs.Converter:
    return camel_case_converter()


def read(converter, data, cls=Item):
    return structure(converter, data, cls, provider="acme", raw="<body>")


# ----------------------------------------------------------------------------- read_json


def test_read_json_parses_a_json_body():
    """A JSON body comes back as Python data."""
    response = httpx.Response(200, json={"a": [1, 2], "b": None})
    assert read_json(response, provider="acme") == {"a": [1, 2], "b": None}


@pytest.mark.parametrize(
    ("content", "content_type", "fragment"),
    [
        (b"<html><h1>502 Bad Gateway</h1></html>", "text/html", "non-JSON body (text/html)"),
        (b"", "application/json", "an empty body"),
        (b'{"jobId": "j1", "sta', "application/json", "non-JSON body"),
        (b"\xff\xfe\xfa", None, "no Content-Type"),
    ],
)
def test_read_json_non_json_is_malformed_with_raw_and_status(content, content_type, fragment):
    """HTML, empty, truncated or undecodable bodies are MalformedResponse with raw and status."""
    headers = {"Content-Type": content_type} if content_type else {}
    response = httpx.Response(502, content=content, headers=headers)
    with pytest.raises(MalformedResponse) as caught:
        read_json(response, provider="acme")
    error = caught.value
    assert fragment in error.message
    assert "HTTP 502" in error.message
    assert error.raw == response.text
    assert error.status_code == 502
    assert error.provider == "acme"


def test_read_json_keeps_the_body_out_of_the_message():
    """The body is in `raw`, not in the message: an error page may echo headers."""
    response = httpx.Response(502, text="Authorization: Bearer ls_secret")
    with pytest.raises(MalformedResponse) as caught:
        read_json(response, provider="acme")
    assert "ls_secret" not in str(caught.value)
    assert caught.value.raw == "Authorization: Bearer ls_secret"


@pytest.mark.parametrize("body", [b'{"event": "x"}', '{"event": "x"}'])
def test_parse_json_reads_bytes_and_text(body):
    """A webhook body parses from bytes or text."""
    assert parse_json(body, provider="acme") == {"event": "x"}


def test_parse_json_non_json_is_malformed_without_status():
    """A non-JSON webhook body is MalformedResponse with raw and no status code."""
    with pytest.raises(MalformedResponse) as caught:
        parse_json(b"event=x", provider="acme")
    assert caught.value.raw == "event=x"
    assert caught.value.status_code is None


# ----------------------------------------------------------------------------- structure


def test_structure_reads_camel_case_keys(converter):
    """camelCase keys fill snake_case fields; dates, decimals and nesting are read."""
    item = read(
        converter,
        {
            "itemId": "i1",
            "unitPrice": 0.1,
            "owner": {"displayName": "Ada", "joinedAt": "2026-04-28T17:14:08.000Z"},
            "tagNames": ["a", "b"],
            "owners": [{"displayName": "Bo"}],
            "score": 3,
            "count": 2,
            "active": True,
        },
    )
    assert item == Item(
        item_id="i1",
        unit_price=Decimal("0.1"),
        owner=Owner("Ada", datetime(2026, 4, 28, 17, 14, 8, tzinfo=UTC)),
        tag_names=("a", "b"),
        owners=[Owner("Bo")],
        score=3.0,
        count=2,
        active=True,
    )


def test_structure_ignores_unknown_keys(converter):
    """Keys the model does not know are tolerated: vendors add fields."""
    assert read(converter, {"itemId": "i1", "unitPrice": 1, "newThing": {"x": 1}}).item_id == "i1"


def test_structure_reads_decimal_exactly(converter):
    """A JSON number becomes the Decimal of its text, not of its binary float."""
    assert read(converter, {"itemId": "i", "unitPrice": 19.99}).unit_price == Decimal("19.99")
    assert read(converter, {"itemId": "i", "unitPrice": "5.10"}).unit_price == Decimal("5.10")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"unitPrice": 1}, "required field missing @ $.itemId"),
        ({"itemId": None, "unitPrice": 1}, "expected a string, got null @ $.itemId"),
        ({"itemId": 5, "unitPrice": 1}, "expected a string, got number @ $.itemId"),
        ({"itemId": "i", "unitPrice": True}, "expected a number, got boolean @ $.unitPrice"),
        ({"itemId": "i", "unitPrice": "lots"}, "not a number: 'lots' @ $.unitPrice"),
        (
            {"itemId": "i", "unitPrice": 1, "owner": {}},
            "required field missing @ $.owner.displayName",
        ),
        (
            {"itemId": "i", "unitPrice": 1, "owner": "Ada"},
            "expected an object, got string @ $.owner",
        ),
        (
            {"itemId": "i", "unitPrice": 1, "owners": [{"displayName": 1}]},
            "expected a string, got number @ $.owners[0].displayName",
        ),
        (
            {"itemId": "i", "unitPrice": 1, "tagNames": "ab"},
            "expected an array, got string @ $.tagNames",
        ),
        (
            {"itemId": "i", "unitPrice": 1, "score": float("nan")},
            "not a finite number: nan @ $.score",
        ),
        (
            {"itemId": "i", "unitPrice": 1, "count": 1.5},
            "expected an integer, got number @ $.count",
        ),
        ({"itemId": "i", "unitPrice": 1, "active": 1}, "expected a boolean, got number @ $.active"),
        (
            {"itemId": "i", "unitPrice": 1, "owner": {"displayName": "A", "joinedAt": "yesterday"}},
            "not an ISO 8601 date-time: 'yesterday' @ $.owner.joinedAt",
        ),
        ([], "expected an object, got array @ $"),
        (None, "expected an object, got null @ $"),
    ],
)
def test_structure_wrong_shape_names_the_json_path(converter, data, expected):
    """A wrong shape is MalformedResponse whose message gives the problem and its JSON path."""
    with pytest.raises(MalformedResponse) as caught:
        read(converter, data)
    assert expected in caught.value.message
    assert caught.value.message.startswith("unexpected shape for Item: ")
    assert caught.value.raw == "<body>"


def test_structure_lists_every_problem(converter):
    """All wrong fields are reported together."""
    with pytest.raises(MalformedResponse) as caught:
        read(converter, {"itemId": None})
    assert "$.itemId" in caught.value.message
    assert "$.unitPrice" in caught.value.message


def test_structure_carries_the_status_code(converter):
    """A status code handed in is kept on the error."""
    with pytest.raises(MalformedResponse) as caught:
        structure(converter, {}, Item, provider="acme", raw="{}", status_code=200)
    assert caught.value.status_code == 200


def test_structure_with_a_plain_converter_never_leaks_key_error():
    """Even a converter without detailed validation gives MalformedResponse, not KeyError."""
    plain = cattrs.Converter(detailed_validation=False)
    with pytest.raises(MalformedResponse) as caught:
        structure(plain, {}, Owner, provider="acme", raw="{}")
    assert "required field missing" in caught.value.message


# ----------------------------------------------------------------------------- converter


@pytest.mark.parametrize(
    ("name", "wire"),
    [
        ("job_id", "jobId"),
        ("id", "id"),
        ("share_url", "shareUrl"),
        ("language_id", "languageId"),
        ("_private_thing", "privateThing"),
        ("poll_after_ms", "pollAfterMs"),
    ],
)
def test_camel_case(name, wire):
    """snake_case attribute names map to camelCase keys."""
    assert camel_case(name) == wire


def test_unstructure_writes_camel_case_and_omits_defaults(converter):
    """Written bodies use camelCase keys and leave out fields at their default."""
    item = Item(item_id="i1", unit_price=Decimal("2.50"), tag_names=("x",))
    assert converter.unstructure(item) == {"itemId": "i1", "unitPrice": 2.5, "tagNames": ["x"]}


def test_unstructure_writes_integral_decimals_as_ints(converter):
    """An integral Decimal goes out as a JSON integer."""
    assert converter.unstructure(Item(item_id="i", unit_price=Decimal(3)))["unitPrice"] == 3


def test_unstructure_can_keep_defaults():
    """`omit_if_default=False` writes every field, None included."""
    owner = camel_case_converter(omit_if_default=False).unstructure(Owner("Ada"))
    assert owner == {"displayName": "Ada", "joinedAt": None}


def test_round_trip(converter):
    """What the converter writes, it reads back to an equal record."""
    item = Item(
        item_id="i",
        unit_price=Decimal("1.25"),
        owner=Owner("Ada", datetime(2026, 4, 28, 17, 14, 8, tzinfo=UTC)),
        tag_names=("a",),
        score=0.5,
    )
    assert read(converter, converter.unstructure(item)) == item


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, InvalidRequest),
        (401, AuthenticationError),
        (402, QuotaExceeded),
        (403, PermissionDenied),
        (404, NotFound),
        (409, Conflict),
        (410, ProviderError),
        (422, InvalidRequest),
        (429, RateLimited),
        (451, ProviderError),
        (500, ProviderUnavailable),
        (502, ProviderUnavailable),
        (503, ProviderUnavailable),
        (599, ProviderUnavailable),
    ],
)
def test_error_class_for_status(status, error_class):
    """Each status maps to its documented class of the error tree."""
    assert error_class_for_status(status) is error_class


# ----------------------------------------------------------------------------- pacing


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "120"}, 120.0),
        ({"Retry-After": " 1.5 "}, 1.5),
        ({"retry-after": "3"}, 3.0),
        ({"Retry-After": "0"}, 0.0),
        ({"Retry-After": "Tue, 28 Apr 2026 17:14:38 GMT", "Date": DATE}, 30.0),
        ({"Retry-After": "Tue, 28 Apr 2026 17:13:08 GMT", "Date": DATE}, 0.0),
        ({"Retry-After": "Tue, 28 Apr 2026 17:14:38 GMT"}, None),
        ({"Retry-After": "soon", "Date": DATE}, None),
        ({"Retry-After": "-5"}, None),
        ({}, None),
    ],
)
def test_parse_retry_after(headers, expected):
    """Delta-seconds as given; HTTP-dates relative to the response's Date, else None."""
    assert parse_retry_after(headers) == expected


def test_parse_retry_after_reads_httpx_headers():
    """`httpx.Headers` are accepted as they are."""
    assert parse_retry_after(httpx.Headers({"Retry-After": "9"})) == 9.0


def test_parse_rate_limit_relative():
    """IETF RateLimit-* fields: Reset is seconds from now."""
    headers = {"RateLimit-Limit": "30", "RateLimit-Remaining": "29", "RateLimit-Reset": "58"}
    assert parse_rate_limit_headers(headers) == RateLimitState(
        remaining=29, reset_after=58.0, limit=30
    )


def test_parse_rate_limit_absolute_against_date():
    """An absolute Reset (Unix time) is made relative to the response's Date."""
    headers = {
        "X-RateLimit-Limit": "5000",
        "X-RateLimit-Remaining": "4999",
        "X-RateLimit-Reset": str(int(DATE_UNIX) + 45),
        "Date": DATE,
    }
    state = parse_rate_limit_headers(headers, prefix="X-RateLimit-", reset="absolute")
    assert state == RateLimitState(remaining=4999, reset_after=45.0, limit=5000)


def test_parse_rate_limit_absolute_without_date_has_no_reset():
    """Without a Date header an absolute Reset cannot be placed: reset_after is None."""
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(DATE_UNIX) + 45)}
    state = parse_rate_limit_headers(headers, prefix="X-RateLimit-", reset="absolute")
    assert state == RateLimitState(remaining=0, reset_after=None, limit=None)


def test_parse_rate_limit_absolute_in_the_past_is_zero():
    """A reset time already past means the window has refilled: 0 seconds."""
    headers = {"X-RateLimit-Reset": str(int(DATE_UNIX) - 10), "Date": DATE}
    state = parse_rate_limit_headers(headers, prefix="X-RateLimit-", reset="absolute")
    assert state is not None
    assert state.reset_after == 0.0


def test_parse_rate_limit_reads_a_limit_with_policy():
    """`RateLimit-Limit: 100, 100;w=60` gives the limit 100."""
    state = parse_rate_limit_headers({"RateLimit-Limit": "100, 100;w=60"})
    assert state == RateLimitState(remaining=None, reset_after=None, limit=100)


def test_parse_rate_limit_ignores_garbage():
    """Unreadable values count as absent rather than raising."""
    headers = {"RateLimit-Limit": "lots", "RateLimit-Remaining": "7", "RateLimit-Reset": "n/a"}
    assert parse_rate_limit_headers(headers) == RateLimitState(remaining=7)


def test_parse_rate_limit_without_headers_is_none():
    """A response without any of the fields gives None."""
    assert parse_rate_limit_headers({"Content-Type": "application/json"}) is None


def test_provider_error_classifies_by_code_then_status_and_keeps_the_body() -> None:
    """The vendor's code table wins over the status; a bodiless error says whose it is."""
    quota = provider_error(
        httpx.Response(403, text='{"code": "SPENT"}'),
        provider="p",
        vendor="Vendor",
        code="SPENT",
        message="spent",
        codes={"SPENT": QuotaExceeded},
    )
    assert type(quota) is QuotaExceeded
    assert quota.raw == '{"code": "SPENT"}'
    slow = provider_error(
        httpx.Response(429, text="<html>"),
        provider="p",
        vendor="Vendor",
        code=None,
        message=None,
        codes={},
        rate_limit=RateLimitState(remaining=0, reset_after=7.0),
    )
    assert isinstance(slow, RateLimited)
    assert slow.retry_after == 7.0  # no Retry-After: the rate limit's reset stands in
    assert slow.message == "HTTP 429 Too Many Requests, without a Vendor error message"
    told = provider_error(
        httpx.Response(429, headers={"Retry-After": "3"}),
        provider="p",
        vendor="Vendor",
        code=None,
        message=None,
        codes={},
        rate_limit=RateLimitState(remaining=0, reset_after=7.0),
    )
    assert isinstance(told, RateLimited)
    assert told.retry_after == 3.0  # the vendor's own Retry-After wins


def test_parse_rate_limit_from_response_headers_and_repeated():
    """A response's own httpx.Headers are read as they are, whatever the names' case, and
    the same values read twice give the same state (parsed once, shared: it is frozen)."""
    response = httpx.Response(
        200,
        headers=[
            ("ratelimit-limit", "120"),
            ("RATELIMIT-REMAINING", "7"),
            ("RateLimit-Reset", "3"),
        ],
    )
    first = parse_rate_limit_headers(response.headers)
    assert first == RateLimitState(remaining=7, reset_after=3.0, limit=120)
    assert parse_rate_limit_headers(response.headers) is first
    assert parse_rate_limit_headers({"RateLimit-Remaining": "6"}) == RateLimitState(remaining=6)


@pytest.mark.parametrize(
    "base", ["https://vendor.example", "https://gw.example/vendor/", "http://127.0.0.1:8080/x"]
)
@pytest.mark.parametrize(
    "segments",
    [
        ("api", "v1", "jobs", "job%2F1"),
        ("jobs?page=2",),
        ("a b", "ü"),
        ("",),
        ("../up",),
        ("/absolute",),
        ("a//b",),
        ("https:", "elsewhere.example"),
    ],
)
def test_vendor_api_url_is_the_root_joined(base: str, segments: tuple[str, ...]) -> None:
    """`VendorAPI.url` (built from the root's text, for speed) is exactly the URL that
    joining the path to the API's root gives, including the paths that are not plain."""
    from coursegen.wire import VendorAPI  # noqa: PLC0415 - only these cases need it

    api = VendorAPI("toy", "Toy", base, prefix="/v1")
    root = api.url("")
    assert str(root).endswith("/v1/")
    assert str(api.url(*segments)) == str(root.join("/".join(segments)))


_PLAIN_CHARS = "ABCXYZabcxyz0189-_~!$&'()*+,=@"
_plain_segment = st.lists(
    st.one_of(
        st.sampled_from(_PLAIN_CHARS),
        st.builds(lambda a, b: f"%{a}{b}", *[st.sampled_from("0123456789abcdefABCDEF")] * 2),
    ),
    min_size=1,
    max_size=12,
).map("".join)


@given(
    base=st.sampled_from(
        ["https://vendor.example", "https://gw.example:8443/v/", "http://[::1]:9/"]
    ),
    segments=st.lists(_plain_segment, min_size=1, max_size=5),
)
def test_vendor_api_plain_urls_equal_parsed_ones(base: str, segments: list[str]) -> None:
    """A plain path (unreserved and sub-delimiter characters, percent escapes) appended
    to the root without parsing gives the very URL that parsing its text gives."""
    from coursegen.wire import VendorAPI  # noqa: PLC0415 - only these cases need it

    api = VendorAPI("toy", "Toy", base, prefix="/v1")
    made = api.url(*segments)
    parsed = httpx.URL(str(api.url("")) + "/".join(segments))
    assert (str(made), made.raw_path, made.netloc, made.path) == (
        str(parsed),
        parsed.raw_path,
        parsed.netloc,
        parsed.path,
    )


def test_vendor_api_parses_when_httpx_urls_cannot_be_reused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """If httpx's URL no longer keeps its parsed form where the shortcut expects it, the
    API parses every URL instead, and the URLs are the same."""
    from coursegen import _api  # noqa: PLC0415 - the shortcut's own module

    root = httpx.URL("https://vendor.example/v1/")

    class Changed:
        """httpx's parsed form as another httpx might keep it: without `_replace`."""

        def __init__(self, reference: object) -> None:
            self._reference = reference

        def __getattr__(self, name: str) -> object:
            if name == "_replace":
                raise AttributeError(name)
            return getattr(self._reference, name)

        def __str__(self) -> str:
            return str(self._reference)

    monkeypatch.setattr(root, "_uri_reference", Changed(root._uri_reference))
    append = _api._path_appender(root)
    assert append.__name__ == "parsed"
    assert str(append("jobs/j1")) == "https://vendor.example/v1/jobs/j1"


def test_vendor_api_get_is_the_request_httpx_would_build() -> None:
    """A keyed GET made from prebuilt parts has the method, URL, headers (names, order,
    `Host` first) and empty body of the request httpx builds from the same arguments."""
    from coursegen import Secret  # noqa: PLC0415 - only this case needs it
    from coursegen.wire import VendorAPI  # noqa: PLC0415 - only this case needs it

    api = VendorAPI("toy", "Toy", "http://127.0.0.1:8080/gw", api_key=Secret("k-123"))
    made = api.get("jobs", "j1")
    built = httpx.Request(
        "GET",
        "http://127.0.0.1:8080/gw/jobs/j1",
        headers={"Accept": "application/json", "Authorization": "Bearer k-123"},
    )
    assert (made.method, made.url, made.headers.raw, made.content) == (
        built.method,
        built.url,
        built.headers.raw,
        built.content,
    )
    assert api.get("jobs", "j2").headers is not made.headers  # each request owns its own
