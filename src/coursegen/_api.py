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
import json
import re
from typing import TYPE_CHECKING, Any, Self, TypeVar
from urllib.parse import quote

import attrs
import httpx

from ._errors import ConfigurationError, InvalidRequest, MalformedResponse
from ._redact import MASK
from ._settings import Secret
from ._wire import provider_error, read_json, structure_lazily

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    import cattrs

    from ._adapter import RateLimitState
    from ._errors import ProviderError
    from ._settings import Settings

__all__ = ["VendorAPI", "https_problem", "unknown_keys"]

T = TypeVar("T")


# Segments of unreserved and sub-delimiter characters (percent escapes included), none
# empty: appended to the root's path they make the URL that joining them would.
_PLAIN_PATH = re.compile(r"[A-Za-z0-9\-_~%!$&'()*+,=@]+(?:/[A-Za-z0-9\-_~%!$&'()*+,=@]+)*")


def _url(value: httpx.URL | str) -> httpx.URL:
    return httpx.URL(value)


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
    # The root as text: a plain URL under the root is this text with a path appended.
    _root_text: str = attrs.field(init=False, repr=False, eq=False)
    # Every keyed request's headers, made once (the key does not change); each request
    # copies them, so this one is never changed.
    _keyed_headers: httpx.Headers = attrs.field(init=False, repr=False, eq=False)

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

    @_root_text.default
    def _text_of_root(self) -> str:
        return str(self._root)

    @_keyed_headers.default
    def _headers_with_key(self) -> httpx.Headers:
        return httpx.Headers(self._headers(keyed=True))

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

    def url(self, *segments: str) -> httpx.URL:
        """The URL of `segments` (already quoted, see `segment`) under the API's root."""
        path = "/".join(segments)
        if _PLAIN_PATH.fullmatch(path):
            # The common case (`api/v1/jobs/ID`): the root's text with the path appended,
            # parsed once (a third of what joining costs, and less than `copy_with`).
            return httpx.URL(self._root_text + path)
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
