"""`VendorAPI`: the HTTP plumbing every adapter needs, written once.

An adapter should read like its vendor's documentation: which path, which fields, which
status word means what. Everything around that is the same for every vendor and lives
here: building URLs under a configured base (keeping a gateway's path prefix), quoting
ids into path segments, the auth and JSON headers, serializing a body, reading a body
into a wire model, shaping typed errors with every secret redacted, and refusing a
vendor-given URL that points at another host. Sans-I/O like the adapters: nothing here
sends, sleeps or reads a clock.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, Self, TypeVar
from urllib.parse import quote

import attrs
import httpx

from ._errors import (
    ConfigurationError,
    InvalidRequest,
    MalformedResponse,
    UnsupportedFeature,
    WebhookVerificationError,
)
from ._models import JobErrorInfo, Snapshot, WebhookEvent
from ._redact import MASK
from ._settings import Secret
from ._wire import parse_json, provider_error, read_json, structure, structure_lazily

if TYPE_CHECKING:
    from collections.abc import Iterable

    import cattrs

    from ._adapter import RateLimitState
    from ._errors import ProviderError
    from ._models import JobStatus, Request
    from ._settings import Settings

__all__ = [
    "VendorAPI",
    "WebhookBody",
    "fraction_of_percent",
    "https_problem",
    "job_error_info",
    "query_params",
    "request_of",
    "seconds_of_ms",
    "text_option",
    "unknown_keys",
    "verify_hmac_sha256",
    "whole_number_option",
]

T = TypeVar("T")
R = TypeVar("R", bound="Request")


# Segments of unreserved and sub-delimiter characters and percent escapes, none empty:
# appended to the root's path they make the URL that joining them would, and httpx
# would quote none of their characters.
_PLAIN_SEGMENT = r"(?:[A-Za-z0-9\-_~!$&'()*+,=@]|%[0-9A-Fa-f]{2})+"
_PLAIN_PATH = re.compile(rf"{_PLAIN_SEGMENT}(?:/{_PLAIN_SEGMENT})*")
# A GET's body: the one httpx would make for it. Immutable, so every GET shares it.
_NO_BODY = httpx.ByteStream(b"")


def _url(value: httpx.URL | str) -> httpx.URL:
    return httpx.URL(value)


def _path_appender(root: httpx.URL) -> Callable[[str], httpx.URL]:
    """A function making `root` with a plain path (see `_PLAIN_PATH`) appended.

    Parsing the URL's text again costs a poll about 10 us, half of what building its
    request does; a plain path needs no parsing or quoting, so the root's parsed form is
    reused with the longer path, through httpx's `URL._uri_reference` (a named tuple in
    httpx 0.28). The shortcut is checked against parsing when the API is made, and
    parsing is used whenever the two would differ (an httpx whose internals changed).
    """
    text = str(root)

    def parsed(path: str) -> httpx.URL:
        return httpx.URL(text + path)

    try:
        reference = root._uri_reference  # noqa: SLF001 - the shortcut, checked below
        prefix = reference.path

        def reused(path: str) -> httpx.URL:
            url = httpx.URL.__new__(httpx.URL)
            url._uri_reference = reference._replace(path=prefix + path)  # noqa: SLF001 - as above
            return url

        probe = "v1/Probe-_~!$&'()*+,=@/%7E%2f9"
        fast, slow = reused(probe), parsed(probe)
        same = all(
            getattr(fast, part) == getattr(slow, part)
            for part in ("scheme", "netloc", "raw_path", "path", "query", "fragment")
        ) and str(fast) == str(slow)
    except Exception:  # noqa: BLE001 - any change in httpx's internals means: parse
        same = False
    return reused if same else parsed


def _secrets(values: Iterable[Secret | None]) -> tuple[Secret, ...]:
    return tuple(value for value in values if value)


@attrs.frozen
class VendorAPI:
    """One vendor's HTTP API as an adapter talks to it: a base URL, a key, a name.

    - `provider` is the registered name (`MalformedResponse.provider`, errors' provider),
      `vendor` the name people know, used in messages ("without a TutorFlow error message").
    - `prefix` is the API's own path (`/v1/platform`): added to the base unless the
      configured base already ends with it, so both spellings of the base work.
    - `api_key` goes as `Authorization: Bearer <key>` on every keyed request;
      `secrets` are further values (a webhook secret) redacted from vendor messages.
    """

    provider: str
    vendor: str
    base_url: httpx.URL = attrs.field(converter=_url)
    api_key: Secret | None = attrs.field(default=None, repr=False)
    prefix: str = ""
    secrets: tuple[Secret, ...] = attrs.field(default=(), converter=_secrets, repr=False)
    _root: httpx.URL = attrs.field(init=False, repr=False)
    # Every keyed request's headers, made once (the key does not change); each request
    # copies them, so this one is never changed.
    _keyed_headers: httpx.Headers = attrs.field(init=False, repr=False, eq=False)
    # A keyed GET's headers as httpx completes them (`Host` first), for `get`.
    _get_headers: httpx.Headers = attrs.field(init=False, repr=False, eq=False)
    _append_path: Callable[[str], httpx.URL] = attrs.field(init=False, repr=False, eq=False)

    @_root.default
    def _root_of_base(self) -> httpx.URL:
        # Built once: a URL is parsed on every poll otherwise, a good share of its cost.
        # Relative to the base's path, so a base behind a gateway's path prefix
        # (https://gateway.example/vendor) keeps it.
        path = self.base_url.path.rstrip("/")
        prefix = self.prefix.rstrip("/")
        if prefix and not path.endswith(prefix):
            path += prefix
        return self.base_url.copy_with(path=path + "/", query=None, fragment=None)

    @_keyed_headers.default
    def _headers_with_key(self) -> httpx.Headers:
        return httpx.Headers(self._headers(keyed=True))

    @_get_headers.default
    def _headers_of_get(self) -> httpx.Headers:
        return httpx.Headers([(b"Host", self._root.netloc), *self._keyed_headers.raw])

    @_append_path.default
    def _appender(self) -> Callable[[str], httpx.URL]:
        return _path_appender(self._root)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        provider: str,
        vendor: str,
        default_base_url: str,
        missing_key: str | None = None,
        prefix: str = "",
        secrets: Iterable[Secret | None] = (),
        keyed: bool = True,
    ) -> Self:
        """The API `settings` describe. With `missing_key` a key is required, and its
        absence raises `ConfigurationError` with that message; a base URL that is not
        http(s) is refused. Without a configured host, `default_base_url` is used. With
        `keyed=False` (a vendor that takes no key) no key is ever sent, even if one is set."""
        if missing_key is not None and not settings.api_key:
            raise ConfigurationError(missing_key)
        base_url = settings.base_url if settings.base_url.host else httpx.URL(default_base_url)
        if base_url.scheme not in {"http", "https"}:
            raise ConfigurationError(
                f"{vendor}'s base URL must be http or https, not {base_url.scheme!r}"
            )
        return cls(
            provider,
            vendor,
            base_url,
            api_key=settings.api_key if keyed else None,
            prefix=prefix,
            secrets=secrets,
        )

    # -- requests -----------------------------------------------------------------------

    def only(self, request: Request, kind: type[R], what: str) -> R:
        """`request` if it is a `kind`, else `UnsupportedFeature` ("<vendor> generates
        <what> only"): the first line of every `submit`."""
        if not isinstance(request, kind):
            raise UnsupportedFeature(
                self.provider, type(request).__name__, f"{self.vendor} generates {what} only"
            )
        return request

    def url(self, *segments: str) -> httpx.URL:
        """The URL of `segments` (already quoted, see `segment`) under the API's root."""
        path = "/".join(segments)
        if _PLAIN_PATH.fullmatch(path):
            # The common case (`api/v1/jobs/ID`): the root with the path appended, not
            # parsed again (a tenth of what joining costs, see `_path_appender`).
            return self._append_path(path)
        # Dot segments, a query, an absolute path, a scheme: resolved as a relative
        # reference under the root.
        return self._root.join(path)

    def segment(self, identifier: object, what: str) -> str:
        """`identifier` quoted as one path segment; `InvalidRequest` naming `what` when it
        is empty or not a string. `/` is quoted too: an id never reaches another endpoint."""
        if not isinstance(identifier, str):
            raise self.invalid(f"the {what} must be a string, not {type(identifier).__name__}")
        if not identifier:
            raise self.invalid(f"the {what} must not be empty")
        return quote(identifier, safe="")

    def headers(self, *, keyed: bool = True) -> dict[str, str]:
        """`Accept: application/json`, and the key's `Authorization` unless `keyed=False`
        (a learner-facing page that must carry no credential)."""
        return self._headers(keyed=keyed)

    def _headers(self, *, keyed: bool) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if keyed and self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key.reveal()}"
        return headers

    def get(
        self,
        *segments: str,
        params: Mapping[str, str] | None = None,
        keyed: bool = True,
    ) -> httpx.Request:
        """`GET` of `segments` with the API's headers."""
        if params is None and keyed:
            # Every poll: the headers and body httpx would add made once (a sixth of
            # what building the request costs otherwise).
            request = httpx.Request(
                "GET", self.url(*segments), headers=self._get_headers, stream=_NO_BODY
            )
            request.read()  # as httpx does for a body it made: `request.content` is b""
            return request
        headers = self._keyed_headers if keyed else self._headers(keyed=False)
        return httpx.Request("GET", self.url(*segments), params=params, headers=headers)

    def post(
        self,
        *segments: str,
        json_body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Request:
        """`POST` of `segments`, with `json_body` serialized compactly as UTF-8 JSON.

        A body that is not JSON (NaN, an object `json` cannot write) raises
        `InvalidRequest` here, before anything is sent: the vendor would refuse it.
        """
        all_headers = self.headers()
        content = None
        if json_body is not None:
            try:
                text = json.dumps(
                    json_body, ensure_ascii=False, separators=(",", ":"), allow_nan=False
                )
            except (TypeError, ValueError) as exc:
                raise self.invalid(f"the request body is not JSON-serializable: {exc}") from exc
            content = text.encode()
            all_headers["Content-Type"] = "application/json"
        all_headers |= dict(headers or {})
        return httpx.Request(
            "POST", self.url(*segments), params=params, headers=all_headers, content=content
        )

    def upload(
        self,
        *segments: str,
        files: Mapping[str, tuple[str, bytes, str]],
        extensions: Mapping[str, Any] | None = None,
    ) -> httpx.Request:
        """A multipart `POST` of `files` (field: name, content, media type) to `segments`.
        `extensions` travel with the request to its answer's reader and are never sent."""
        return httpx.Request(
            "POST",
            self.url(*segments),
            files=dict(files),
            headers=self.headers(),
            extensions=dict(extensions or {}),
        )

    # -- answers ------------------------------------------------------------------------

    def read(
        self, response: httpx.Response, converter: cattrs.Converter, cls: type[T]
    ) -> tuple[Any, T]:
        """The body's JSON and the wire model `cls` made of it; anything unreadable is
        `MalformedResponse` with the body and status attached."""
        data = read_json(response, provider=self.provider)
        return data, self.structure(data, response, converter, cls)

    def structure(
        self, data: Any, response: httpx.Response, converter: cattrs.Converter, cls: type[T]
    ) -> T:
        """`data` (the answer's JSON or a part of it) made into the wire model `cls`; if
        it cannot be, `MalformedResponse` with the whole body and status attached."""
        return structure_lazily(
            converter,
            data,
            cls,
            provider=self.provider,
            raw=lambda: response.text,
            status_code=response.status_code,
        )

    def json_or_none(self, response: httpx.Response) -> Any:
        """The body's JSON, or None when it is none (an error page from a proxy)."""
        try:
            return read_json(response, provider=self.provider)
        except MalformedResponse:
            return None

    def error_fields(self, response: httpx.Response) -> tuple[str | None, str | None]:
        """The vendor's error code and message, each None when absent or empty.

        Read from the usual envelope (`{"error": {"code", "message"}}`), its contents
        unwrapped (`{"code", "message"}`), or a web framework's default error
        (`{"statusCode", "message", "error": "Not Found"}`, a message list joined by
        `; `). A body that is none of these (a proxy's HTML page) gives `(None, None)`,
        and the HTTP status alone classifies the error.
        """
        data = self.json_or_none(response)
        if not isinstance(data, dict):
            return None, None
        inner = data.get("error")
        if isinstance(inner, dict):
            source: Mapping[str, Any] = inner
        elif "code" in data:
            source = data
        else:
            message = data.get("message")
            if isinstance(message, list):
                message = "; ".join(str(item) for item in message)
            if not isinstance(message, str) or not message:
                message = inner if isinstance(inner, str) and inner else None
            return None, message
        return _text(source.get("code")), _text(source.get("message"))

    def error(
        self,
        response: httpx.Response,
        *,
        code: str | None,
        message: str | None,
        codes: Mapping[str, type[ProviderError]],
        rate_limit: RateLimitState | None = None,
    ) -> ProviderError:
        """The typed error of an unsuccessful response (`coursegen.wire.provider_error`),
        its message redacted of every secret: a proxy may echo a header."""
        return provider_error(
            response,
            provider=self.provider,
            vendor=self.vendor,
            code=code,
            message=self.redact(message) if message else None,
            codes=codes,
            rate_limit=rate_limit,
        )

    def read_error(
        self,
        response: httpx.Response,
        *,
        codes: Mapping[str, type[ProviderError]],
        rate_limit: RateLimitState | None = None,
    ) -> ProviderError:
        """`error` of the code and message `error_fields` finds: an adapter's whole
        `read_error` when its vendor uses one of the usual error shapes."""
        code, message = self.error_fields(response)
        return self.error(response, code=code, message=message, codes=codes, rate_limit=rate_limit)

    def redact(self, text: str) -> str:
        """`text` with the key and every other secret replaced by `********`."""
        for secret in (self.api_key, *self.secrets):
            if secret:
                text = text.replace(secret.reveal(), MASK)
        return text

    def invalid(self, message: str) -> InvalidRequest:
        """The `InvalidRequest` for input the vendor would refuse; nothing was sent."""
        return InvalidRequest(message, provider=self.provider, vendor_code=None)

    def refuse(self, problems: Iterable[str]) -> None:
        """Raise one `InvalidRequest` listing every problem, if there is any."""
        found = list(problems)
        if found:
            raise self.invalid("; ".join(found))

    def malformed(self, message: str, response: httpx.Response) -> MalformedResponse:
        """A `MalformedResponse` about `response`, with its body and status attached."""
        return MalformedResponse(
            message, provider=self.provider, raw=response.text, status_code=response.status_code
        )

    def webhook(self, body: bytes, *, verified: bool = False) -> WebhookBody:
        """A webhook's body as JSON (`MalformedResponse` if it is not), ready to be read
        into the wire model its event names; `verified` once its signature matched."""
        data = parse_json(body, provider=self.provider)
        text = body.decode("utf-8", errors="replace")
        return WebhookBody(self.provider, data, text, verified=verified)

    def check_job(
        self, asked: str, answered: str, response: httpx.Response, *, what: str = "job"
    ) -> None:
        """Refuse (`MalformedResponse`) an answer about another `what` than the one asked
        for: a caching proxy's mix-up, or a vendor's bug. The engine polls by id."""
        if answered != asked:
            raise self.malformed(
                f"asked for {what} {asked!r}, the answer is about {what} {answered!r}", response
            )

    def check_same_origin(self, url: str, response: httpx.Response, *, what: str) -> None:
        """Refuse (`MalformedResponse`) a vendor-given `url` on another origin than the
        configured base: a misconfigured base or a tampering proxy. Relative URLs pass."""
        try:
            target = self._root.join(url)
        except httpx.InvalidURL as exc:
            raise self.malformed(f"{what} is not a URL: {url!r}", response) from exc
        base = self.base_url
        if (target.scheme, target.host, target.port) != (base.scheme, base.host, base.port):
            raise self.malformed(
                f"{what} points to {target.scheme}://{target.host}, not to the configured "
                f"{base.scheme}://{base.host}; coursegen does not send the API key elsewhere",
                response,
            )

    def server_scope(self) -> str:
        """A rate scope for a server that jobs share, with no key to tell users apart:
        `server-` and the base's host (and port)."""
        port = f":{self.base_url.port}" if self.base_url.port else ""
        return f"server-{self.base_url.host}{port}"

    def key_scope(self) -> str:
        """A rate scope for a vendor that limits each key: a fingerprint of the key, from
        which the key cannot be read (`key-` and 16 hex digits of its SHA-256)."""
        key = self.api_key.reveal() if self.api_key else ""
        return f"key-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def https_problem(url: str, field: str = "callback_url") -> str | None:
    """Why `url` is no HTTPS URL (naming `field`), or None if it is one."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return f"{field} is not a URL: {url!r}"
    if parsed.scheme != "https" or not parsed.host:
        return f"{field} must be an https:// URL, not {url!r}"
    return None


def unknown_keys(data: Mapping[str, Any], known: Iterable[str]) -> dict[str, Any]:
    """The entries of a vendor object that no field reads, for a record's `extra`, so
    that nothing the vendor sent is lost."""
    skip = frozenset(known)
    return {key: value for key, value in data.items() if key not in skip}


@attrs.frozen
class WebhookBody:
    """A webhook's parsed JSON (`data`) and its text (`raw` of every error about it)."""

    provider: str
    data: Any
    text: str = attrs.field(repr=False)
    verified: bool = False

    @property
    def event(self) -> str | None:
        """The body's `event` name, or None when it names none (or not as text)."""
        event = self.data.get("event") if isinstance(self.data, dict) else None
        return event if isinstance(event, str) else None

    def read(self, converter: cattrs.Converter, cls: type[T], data: Any = None) -> T:
        """The body (or `data`, a part of it) as the wire model `cls`, or
        `MalformedResponse` naming the JSON path that was wrong."""
        chosen = self.data if data is None else data
        return structure(converter, chosen, cls, provider=self.provider, raw=self.text)

    def event_named(self, header_value: str | None, *, header: str) -> str:
        """The event this webhook names: the value of its `header`, else the body's
        `event`. When both name one they must agree (a vendor signs the body, not the
        header), or `WebhookVerificationError`; naming none is `MalformedResponse`."""
        if header_value and self.event is not None and self.event != header_value:
            raise WebhookVerificationError(
                f"the {header} header ({header_value!r}) disagrees with the signed "
                f"body's event ({self.event!r})"
            )
        event = header_value or self.event
        if not event:
            raise self.malformed(f"the webhook names no event (no {header} header, no body event)")
        return event

    def malformed(self, message: str) -> MalformedResponse:
        """A `MalformedResponse` about this webhook, with its body attached."""
        return MalformedResponse(message, provider=self.provider, raw=self.text)

    def event_of(self, kind: str, job_id: str | None = None, *, export: Any = None) -> WebhookEvent:
        """The `WebhookEvent` `kind` (about `job_id`, carrying `export`), without a snapshot."""
        return WebhookEvent(
            self.provider, kind, job_id, export=export, verified=self.verified, raw=self.data
        )

    def job_event(self, kind: str, job_id: str, status: JobStatus, **fields: Any) -> WebhookEvent:
        """The `WebhookEvent` `kind` with a snapshot of job `job_id` in `status`: its
        `vendor_status` the event name, its `raw` the body, `fields` the rest (`result`,
        `error`, `cost`)."""
        snapshot = Snapshot(
            job_id=job_id,
            provider=self.provider,
            status=status,
            vendor_status=kind,
            raw=self.data,
            **fields,
        )
        return WebhookEvent(
            self.provider, kind, job_id, snapshot=snapshot, verified=self.verified, raw=self.data
        )


_SIGNATURE: Final = re.compile(r"(?:sha256=)?([0-9a-f]{64})")


def verify_hmac_sha256(
    body: bytes, signature: str | None, keys: Iterable[bytes], *, header: str
) -> None:
    """Raise `WebhookVerificationError` unless `signature` (the value of `header`: hex,
    with or without a `sha256=` prefix, any case) is the HMAC-SHA256 of the raw `body`
    under one of `keys`. Every key is tried whatever matched first, and compared in
    constant time: the time taken tells a forger nothing."""
    if not signature:
        raise WebhookVerificationError(f"the {header} header is missing")
    match = _SIGNATURE.fullmatch(signature.strip().lower())
    if match is None:
        raise WebhookVerificationError(f"{header} is not a hex HMAC-SHA256")
    given = match.group(1).encode()
    matched = False
    for key in keys:
        expected = hmac.new(key, body, hashlib.sha256).hexdigest().encode()
        matched = hmac.compare_digest(expected, given) | matched
    if not matched:
        raise WebhookVerificationError(
            f"{header} does not match the body: forged, altered, or signed with another secret"
        )


def fraction_of_percent(percent: float | None) -> float | None:
    """A vendor's 0-100 progress as `Snapshot.progress` (0.0-1.0, clamped); None for
    none or a value that is not finite."""
    if percent is None or not math.isfinite(percent):
        return None
    return min(max(percent / 100.0, 0.0), 1.0)


def text_option(settings: Settings, name: str, *, vendor: str) -> str | None:
    """The settings option `name` as stripped text, None when unset;
    `ConfigurationError` for anything but a non-empty string."""
    value = settings.option(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{vendor} setting {name!r} must be a non-empty string")
    return value.strip()


def whole_number_option(
    settings: Settings, name: str, default: int, *, vendor: str, unit: str
) -> int:
    """The settings option `name` as a whole number from 1 (`default` when unset), from
    an int or its digits as text (a URL's query, an environment variable);
    `ConfigurationError` naming `unit` ("requests per minute") otherwise."""
    value = settings.option(name, default)
    if isinstance(value, bool):
        value = None  # `True` is no number of anything
    try:
        number = int(str(value).strip()) if isinstance(value, str) else value
    except ValueError:
        number = None
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        raise ConfigurationError(
            f"{vendor} setting {name!r} must be a whole number of {unit}, not {value!r}"
        )
    return number


def job_error_info(value: object, *, fallback: str) -> JobErrorInfo:
    """A failed job's reason from what the vendor gave: an object's `message` and `code`
    (text), or a string; `fallback` is the message when it gave none."""
    if isinstance(value, Mapping):
        return JobErrorInfo(
            message=_text(value.get("message")) or fallback, code=_text(value.get("code"))
        )
    if isinstance(value, str) and value:
        return JobErrorInfo(message=value)
    return JobErrorInfo(message=fallback)


def seconds_of_ms(milliseconds: float | None) -> float | None:
    """A vendor's milliseconds (`pollAfterMs`) as seconds; None for none or a negative."""
    if milliseconds is None or milliseconds < 0:
        return None
    return milliseconds / 1000.0


def query_params(
    values: Mapping[str, Any], *, vendor: str
) -> tuple[dict[str, str | None], list[str]]:
    """`values` (a request's `extra`) as query parameters, and the problems: text and
    numbers as they are written, booleans as `true`/`false`, None kept (it removes a
    parameter); anything else (a list, NaN, an object) is a problem naming its key."""
    params: dict[str, str | None] = {}
    problems: list[str] = []
    for key, value in values.items():
        if value is None:
            params[key] = None
        elif isinstance(value, bool):
            params[key] = "true" if value else "false"
        elif isinstance(value, str | int) or (isinstance(value, float) and math.isfinite(value)):
            params[key] = str(value)
        else:
            problems.append(
                f"extra[{key!r}] cannot be a query parameter: {vendor} takes text, numbers "
                f"and booleans, not {type(value).__name__}"
            )
    return params, problems


def request_of(response: httpx.Response) -> httpx.Request | None:
    """The request `response` answers, or None for a response built without one (a
    test's canned answer), where httpx would raise."""
    try:
        return response.request
    except RuntimeError:
        return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
