"""Helpers every adapter uses to read a vendor's HTTP answers, whoever wrote the adapter.

All of them are sans-I/O like the adapters themselves: they look at an `httpx.Response`
(or its headers) that is already read, and never send, sleep or read a clock. Times in
headers are made relative to the response's own `Date` header, so that a test fed a
canned response gets the same answer on any day.

- `read_json` (a response's body), `parse_json` (a webhook's) and `structure` turn a body
  into a wire model, or into `MalformedResponse` with the body attached: a vendor's
  surprise never escapes as `KeyError`.
- `error_class_for_status` is the HTTP half of error classification, so a vendor's code
  table lists only the codes that say more than their status.
- `parse_retry_after` and `parse_rate_limit_headers` read the server's pacing hints.
- `camel_case_converter` is the cattrs converter most JSON vendors need: snake_case attrs
  fields, camelCase on the wire, unknown keys tolerated, types checked strictly.
"""

from __future__ import annotations

import collections
import functools
import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar, get_origin

import attrs
import cattrs
import httpx
from cattrs.cols import (
    homogenous_tuple_structure_factory,
    is_mutable_sequence,
    is_sequence,
    list_structure_factory,
)
from cattrs.errors import AttributeValidationNote, ClassValidationError
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.preconf.json import make_converter
from cattrs.v import format_exception

from ._adapter import RateLimitState
from ._errors import (
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
)

if TYPE_CHECKING:
    from cattrs.dispatch import StructureHook, UnstructureHook

__all__ = [
    "camel_case",
    "camel_case_converter",
    "error_class_for_status",
    "parse_json",
    "parse_rate_limit_headers",
    "parse_retry_after",
    "provider_error",
    "read_json",
    "structure",
]

T = TypeVar("T")

# --------------------------------------------------------------------------- bodies


def read_json(response: httpx.Response, *, provider: str) -> Any:
    """The response body as parsed JSON.

    A body that is not JSON (an HTML page from a proxy, a truncated or empty body) raises
    `MalformedResponse` carrying the body text and the status code. The body itself is
    kept out of the message: it is in `raw` for whoever wants it, and an error page may
    echo request headers.
    """
    body = response.content
    if not _too_deep(body):
        try:
            # The common case, with no text decoded: the body's text is for errors only.
            return json.loads(body)
        except (ValueError, RecursionError):
            pass  # told below, with the body's text
    return _loads(
        body,
        provider=provider,
        raw=response.text,
        status_code=response.status_code,
        content_type=response.headers.get("Content-Type"),
    )


def parse_json(body: bytes | str, *, provider: str) -> Any:
    """A request body (a webhook's) as parsed JSON, or `MalformedResponse` with it attached."""
    raw = body if isinstance(body, str) else body.decode("utf-8", errors="replace")
    return _loads(body, provider=provider, raw=raw, status_code=None, content_type=None)


MAX_JSON_DEPTH: Final = 64
"""The deepest nesting of arrays and objects read from a vendor or a webhook body.

Vendor answers nest five or six levels; a body nested deeper (`[` * 100_000 posted to an
unsigned webhook URL) is refused as `MalformedResponse` before it is parsed, instead of
exhausting the interpreter's recursion in the parser or in the code that walks it.
"""
# A JSON string (escapes included): brackets inside strings do not nest.
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


def _too_deep(body: bytes) -> bool:
    """True if the JSON text nests arrays and objects deeper than `MAX_JSON_DEPTH`."""
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return False  # the common case: too few brackets to nest that deep
    depth = 0
    for match in _BRACKET.finditer(_JSON_STRING.sub(b'""', body)):
        if match.group() in b"[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return True
        else:
            depth = max(0, depth - 1)
    return False


def _loads(
    body: bytes | str,
    *,
    provider: str,
    raw: str,
    status_code: int | None,
    content_type: str | None,
) -> Any:
    where = f"HTTP {status_code} came with" if status_code is not None else "got"
    encoded = body.encode("utf-8", errors="replace") if isinstance(body, str) else body
    if _too_deep(encoded):
        raise MalformedResponse(
            f"{where} a JSON body nested deeper than {MAX_JSON_DEPTH} levels",
            provider=provider,
            raw=raw,
            status_code=status_code,
        )
    try:
        # `json.loads` on bytes detects UTF-8/16/32 itself, as RFC 8259 asks.
        return json.loads(body)
    # JSONDecodeError and UnicodeDecodeError are ValueErrors; RecursionError is the
    # parser's, should nesting the depth check let through still exhaust the stack.
    except (ValueError, RecursionError) as exc:
        if not body:
            what = "an empty body"
        else:
            what = f"a non-JSON body ({content_type or 'no Content-Type'})"
        raise MalformedResponse(
            f"{where} {what}: {_json_problem(exc)}",
            provider=provider,
            raw=raw,
            status_code=status_code,
        ) from exc


def _json_problem(exc: ValueError | RecursionError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    return "the body is not valid text"


def structure(
    converter: cattrs.Converter,
    data: Any,
    cls: type[T],
    *,
    provider: str,
    raw: str,
    status_code: int | None = None,
) -> T:
    """`converter.structure(data, cls)`, with any failure raised as `MalformedResponse`.

    The message names every field that was wrong, by its path in the JSON
    (`required field missing @ $.course.id`); `raw` carries the body text.
    """
    return structure_lazily(
        converter, data, cls, provider=provider, raw=lambda: raw, status_code=status_code
    )


def structure_lazily(
    converter: cattrs.Converter,
    data: Any,
    cls: type[T],
    *,
    provider: str,
    raw: Callable[[], str],
    status_code: int | None = None,
) -> T:
    """`structure`, the body's text asked of `raw` only when the data does not fit (a
    response's text is decoded on demand: reading every answer's text would cost more
    than structuring it)."""
    try:
        return converter.structure(data, cls)
    except (cattrs.BaseValidationError, ValueError, TypeError, KeyError, AttributeError) as exc:
        # Converters without detailed validation raise the bare error of the first bad
        # field; `transform_error` formats both kinds.
        problems = "; ".join(cattrs.transform_error(exc, "$", _describe))
        raise MalformedResponse(
            f"unexpected shape for {getattr(cls, '__name__', cls)}: {problems}",
            provider=provider,
            raw=raw(),
            status_code=status_code,
        ) from exc


class _WrongTypeError(TypeError):
    """A JSON value of the wrong type; the message says which type was expected."""


class _BadValueError(ValueError):
    """A JSON value of the right type that still cannot be read; the message says why."""


def _describe(exc: BaseException, type_: type | None) -> str:
    # Our own hooks explain themselves ("expected a string, got null"); cattrs' default
    # wording covers the rest ("required field missing").
    if isinstance(exc, _WrongTypeError | _BadValueError):
        return str(exc)
    return format_exception(exc, type_)


# --------------------------------------------------------------------------- errors

_ERROR_BY_STATUS: Mapping[int, type[ProviderError]] = {
    400: InvalidRequest,
    401: AuthenticationError,
    402: QuotaExceeded,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    422: InvalidRequest,
    429: RateLimited,
}


def error_class_for_status(status: int) -> type[ProviderError]:
    """The exception class an unsuccessful HTTP status means when the vendor says no more.

    401 `AuthenticationError`, 402 `QuotaExceeded`, 403 `PermissionDenied`, 400 and 422
    `InvalidRequest`, 404 `NotFound`, 409 `Conflict`, 429 `RateLimited`, 5xx
    `ProviderUnavailable`, any other status `ProviderError`. A vendor's code table then
    only lists its exceptions (403 with a usage-limit code is `QuotaExceeded`).
    """
    if status >= 500:  # noqa: PLR2004 - the server-error class, by definition of HTTP
        return ProviderUnavailable
    return _ERROR_BY_STATUS.get(status, ProviderError)


def provider_error(
    response: httpx.Response,
    *,
    provider: str,
    vendor: str,
    code: str | None,
    message: str | None,
    codes: Mapping[str, type[ProviderError]],
    rate_limit: RateLimitState | None = None,
) -> ProviderError:
    """The typed error of an unsuccessful response, from the vendor's code and message.

    The class comes from `codes` (the vendor's code table) first and from the HTTP status
    otherwise; with no vendor message (a proxy's page) the message says so, naming
    `vendor`. `raw` is always the body as received. A `RateLimited` carries the
    response's `Retry-After`, or else the reset of its `rate_limit` state (what the
    adapter's `read_rate_limit` made of the headers). The caller redacts the message
    first if the vendor might echo a secret in it.
    """
    status = response.status_code
    error_class = codes.get(code or "") or error_class_for_status(status)
    if not message:
        reason = f" {response.reason_phrase}" if response.reason_phrase else ""
        message = f"HTTP {status}{reason}, without a {vendor} error message"
    fields: dict[str, Any] = {
        "provider": provider,
        "status_code": status,
        "vendor_code": code,
        "raw": response.text,
    }
    if issubclass(error_class, RateLimited):
        retry_after = parse_retry_after(response.headers)
        if retry_after is None and rate_limit is not None:
            retry_after = rate_limit.reset_after
        return error_class(message, retry_after=retry_after, **fields)
    return error_class(message, **fields)


# --------------------------------------------------------------------------- pacing

# Delta-seconds is an integer by RFC 9110; some servers send a fraction, which we accept.
_SECONDS = re.compile(r"\s*(\d+(?:\.\d+)?)\s*")
# `RateLimit-Limit` may carry a policy after the number ("100, 100;w=60"): we want 100.
_LEADING_NUMBER = re.compile(r"\s*(\d+(?:\.\d+)?)")
MAX_HEADER_NUMBER = 10.0**12
"""The largest number read from a pacing header (seconds, counts or a Unix time).

Every numeric header goes through `_bounded`: a value past this (a 400-digit
`RateLimit-Remaining`, which `float` reads as infinity) is no usable hint and counts as
absent, never as an `OverflowError` later. 10**12 is past any Unix time in seconds
for 30,000 years and any count a vendor sends.
"""


def _bounded(text: str) -> float | None:
    """A decimal number of at most `MAX_HEADER_NUMBER`, or None (too long, inf, NaN)."""
    if len(text) > 32:  # noqa: PLR2004 - no honest header number has more characters
        return None
    number = float(text)
    if not math.isfinite(number) or not 0 <= number <= MAX_HEADER_NUMBER:
        return None
    return number


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        # Python versions differ in what they raise for garbage; all mean "not a date".
        return None


def _seconds_until(when: datetime, headers: httpx.Headers) -> float | None:
    """Seconds from the response's `Date` to `when`; None without a usable `Date`."""
    sent = _http_date(headers.get("Date"))
    if sent is None or (when.tzinfo is None) != (sent.tzinfo is None):
        return None
    return max(0.0, (when - sent).total_seconds())


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from a `Retry-After` header, or None if there is no usable one.

    Delta-seconds are taken as they are. An HTTP-date is made relative to the response's
    `Date` header, never to our clock (adapters read no clock, and the two clocks may
    disagree); without a `Date`, an HTTP-date gives None. A date in the past gives 0.
    """
    fields = httpx.Headers(headers)  # case-insensitive, whatever mapping we were given
    value = fields.get("Retry-After")
    if value is None:
        return None
    if match := _SECONDS.fullmatch(value):
        return _bounded(match.group(1))
    when = _http_date(value)
    return None if when is None else _seconds_until(when, fields)


def parse_rate_limit_headers(
    headers: Mapping[str, str],
    prefix: str = "RateLimit-",
    reset: Literal["relative", "absolute"] = "relative",
) -> RateLimitState | None:
    """The budget that `<prefix>Limit`, `<prefix>Remaining` and `<prefix>Reset` describe.

    `reset="relative"` reads Reset as seconds until the window refills (the IETF
    `RateLimit-*` fields); `"absolute"` reads it as a Unix time (GitHub's
    `X-RateLimit-Reset`) and makes it relative to the response's `Date` header, so
    without a `Date` the reset is None. Unreadable values count as absent; None when
    the response carries none of the three.
    """
    # A response's headers are read as they are (no copy); a plain mapping is made one.
    fields = headers if isinstance(headers, httpx.Headers) else httpx.Headers(headers)
    return _rate_limit_state(
        fields.get(f"{prefix}Limit"),
        fields.get(f"{prefix}Remaining"),
        fields.get(f"{prefix}Reset"),
        fields.get("Date") if reset == "absolute" else None,
        absolute=reset == "absolute",
    )


@functools.lru_cache(maxsize=1024)
def _rate_limit_state(
    limit_text: str | None,
    remaining_text: str | None,
    reset_text: str | None,
    date_text: str | None,
    *,
    absolute: bool,
) -> RateLimitState | None:
    """The state the header values say, parsed once per distinct values: a budget's
    headers repeat from one answer to the next (the state is immutable, so shared)."""
    limit = _leading_int(limit_text)
    remaining = _leading_int(remaining_text)
    reset_value = _leading_number(reset_text)
    if limit is None and remaining is None and reset_value is None:
        return None
    reset_after: float | None = reset_value
    if reset_value is not None and absolute:
        sent = _http_date(date_text)
        reset_after = None if sent is None else max(0.0, reset_value - sent.timestamp())
    return RateLimitState(remaining=remaining, reset_after=reset_after, limit=limit)


def _leading_number(value: str | None) -> float | None:
    if value is None or not (match := _LEADING_NUMBER.match(value)):
        return None
    return _bounded(match.group(1))


def _leading_int(value: str | None) -> int | None:
    number = _leading_number(value)
    return None if number is None else int(number)


# --------------------------------------------------------------------------- converter


def camel_case(name: str) -> str:
    """`share_url` -> `shareUrl`: the wire name of an attrs field in camelCase JSON."""
    head, *rest = name.lstrip("_").split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def camel_case_converter(*, omit_if_default: bool = True) -> cattrs.Converter:
    """A JSON converter for vendors that speak camelCase.

    - every attrs class is read from and written to camelCase keys (`job_id` <->
      `jobId`) by a hook factory, so wire models carry no wire names;
    - keys the model does not know are ignored: a vendor may add fields at any time;
    - scalars are checked, not coerced: `null` or `5` where a string belongs is an error,
      not `"None"` or `"5"`, and a string is not a list of characters;
    - `datetime` from ISO 8601 (`2026-04-28T17:14:08.000Z`), `Decimal` from a number;
    - when writing, fields equal to their default are left out (`omit_if_default`), so
      a request body carries only what the caller set and the vendor's defaults apply.

    Error paths name the JSON keys (`$.course.shareUrl`), as the vendor's docs do. A
    class that needs other names gets its own hooks, registered on the result.
    """
    converter = make_converter(forbid_extra_keys=False)
    _register_strict_scalars(converter)
    converter.register_structure_hook_factory(
        _is_json_array_type, lambda type_: _json_array_hook(type_, converter)
    )

    def structure_factory(cls: type[Any]) -> StructureHook:
        renames = {field.name: camel_case(field.name) for field in attrs.fields(cls)}
        # Typed `Any` because mypy cannot tell these keys from the function's own
        # keyword parameters; every key here is an attribute name.
        overrides: dict[str, Any] = {name: override(rename=key) for name, key in renames.items()}
        generated = make_dict_structure_fn(cls, converter, **overrides)

        def structure_object(data: Any, type_: Any) -> Any:
            if not isinstance(data, Mapping):
                msg = f"expected an object, got {_json_type_name(data)}"
                raise _WrongTypeError(msg)
            try:
                return generated(data, type_)
            except ClassValidationError as exc:
                _name_wire_keys(exc, renames)
                raise

        return structure_object

    def unstructure_factory(cls: type[Any]) -> UnstructureHook:
        overrides: dict[str, Any] = {  # `Any`: see structure_factory
            field.name: override(rename=camel_case(field.name)) for field in attrs.fields(cls)
        }
        return make_dict_unstructure_fn(
            cls, converter, _cattrs_omit_if_default=omit_if_default, **overrides
        )

    converter.register_structure_hook_factory(attrs.has, structure_factory)
    converter.register_unstructure_hook_factory(attrs.has, unstructure_factory)
    return converter


def _name_wire_keys(exc: ClassValidationError, renames: Mapping[str, str]) -> None:
    """Make cattrs' error notes name the JSON key instead of the attribute.

    `transform_error` builds paths from these notes; the user holds the vendor's JSON,
    where `jobId` is findable and `job_id` is not.
    """
    for sub in exc.exceptions:
        notes = getattr(sub, "__notes__", None)
        if not notes:
            continue
        sub.__notes__ = [
            AttributeValidationNote(str(note), renames.get(note.name, note.name), note.type)
            if isinstance(note, AttributeValidationNote)
            else note
            for note in notes
        ]


def _json_type_name(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "number"
    return names.get(type(value), type(value).__name__)


# cattrs' own scalar hooks coerce (`str(None) == "None"`, `int("5")`): right for trusted
# data, wrong for a vendor's answer, where a wrong type means the API changed under us.


def _strict_str(value: Any, _: Any) -> str:
    if not isinstance(value, str):
        raise _WrongTypeError(f"expected a string, got {_json_type_name(value)}")
    return value


def _strict_bool(value: Any, _: Any) -> bool:
    if not isinstance(value, bool):
        raise _WrongTypeError(f"expected a boolean, got {_json_type_name(value)}")
    return value


_INT_RANGE: Final = 2**63
"""JSON integers are unbounded in Python; a vendor's fit in 64 bits (ms, counts, ids)."""


def _strict_int(value: Any, _: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _WrongTypeError(f"expected an integer, got {_json_type_name(value)}")
    if not -_INT_RANGE <= value < _INT_RANGE:
        # 10**400 milliseconds would raise OverflowError the moment it meets a float.
        raise _BadValueError("an integer out of the 64-bit range")
    return value


def _strict_float(value: Any, _: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _WrongTypeError(f"expected a number, got {_json_type_name(value)}")
    if not math.isfinite(value):
        # Python's json reads NaN and Infinity, which JSON itself does not have.
        raise _BadValueError(f"not a finite number: {value!r}")
    return float(value)


def _decimal_from_number(value: Any, _: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise _WrongTypeError(f"expected a number, got {_json_type_name(value)}")
    try:
        # Through `str`, so that the float 0.1 becomes Decimal("0.1") and not its binary
        # approximation; strings are accepted because some vendors quote amounts.
        result = Decimal(str(value))
    except InvalidOperation as exc:
        raise _BadValueError(f"not a number: {value!r}") from exc
    if not result.is_finite():
        raise _BadValueError(f"not a finite number: {value!r}")
    return result


def _datetime_from_iso(value: Any, _: Any) -> datetime:
    if not isinstance(value, str):
        raise _WrongTypeError(f"expected an ISO 8601 string, got {_json_type_name(value)}")
    try:
        # Python 3.11 reads the "Z" suffix and any fraction of a second.
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise _BadValueError(f"not an ISO 8601 date-time: {value!r}") from exc


def _register_strict_scalars(converter: cattrs.Converter) -> None:
    converter.register_structure_hook(str, _strict_str)
    converter.register_structure_hook(bool, _strict_bool)
    converter.register_structure_hook(int, _strict_int)
    converter.register_structure_hook(float, _strict_float)
    converter.register_structure_hook(Decimal, _decimal_from_number)
    converter.register_unstructure_hook(Decimal, _decimal_to_json)
    converter.register_structure_hook(datetime, _datetime_from_iso)


def _decimal_to_json(value: Decimal) -> int | float:
    # JSON has one number type and vendors read it as a double: send the closest one.
    return int(value) if value == value.to_integral_value() else float(value)


def _is_json_array_type(type_: Any) -> bool:
    # Lists, sequences and homogeneous tuples; deques keep cattrs' own hook.
    return (
        is_sequence(type_)
        and type_ is not collections.deque
        and (get_origin(type_) is not collections.deque)
    )


def _json_array_hook(type_: Any, converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
    base = (
        list_structure_factory(type_, converter)
        if is_mutable_sequence(type_)
        else homogenous_tuple_structure_factory(type_, converter)
    )

    def structure_array(value: Any, target: Any) -> Any:
        # cattrs accepts any iterable; from JSON, a string or an object here is an error.
        if not isinstance(value, list | tuple):
            raise _WrongTypeError(f"expected an array, got {_json_type_name(value)}")
        return base(value, target)

    return structure_array
