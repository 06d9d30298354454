"""The scaffolding a provider's own tests repeat, written once (public in `coursegen.testing`).

- `VendorFixtures`: the vendor's example payloads kept as files, read as bytes, JSON, a
  changed copy, or a canned `httpx.Response` to feed an adapter.
- `answer`, `sent_json`: a canned JSON answer from a Python value; a request's JSON body.
- `no_requests_built`: a pytest fixture proving an adapter validates before it builds.
- `vendor_client`: an `httpx.AsyncClient` on a simulator, keyed like a caller of the vendor.
- `WebhookReceiver`: an endpoint that records each webhook a simulator delivers.
- `mocked_client`: a coursegen client whose vendor is a handler (a respx router's).
- `simulator_imports`: what a simulator's module imports of coursegen (only the toolkit).
"""

from __future__ import annotations

import ast
import inspect
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import httpx
import pytest

from ._config import connect

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from ._client import Client
    from .sandbox import Sandbox

__all__ = [
    "VendorFixtures",
    "WebhookReceiver",
    "answer",
    "mocked_client",
    "no_requests_built",
    "sent_json",
    "simulator_imports",
    "vendor_client",
]

_JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}


@attrs.frozen
class VendorFixtures:
    """The vendor's example payloads in `folder`, one `NAME.json` file each, unchanged
    from its docs: `VendorFixtures(Path(__file__).parent / "fixtures")`."""

    folder: Path = attrs.field(converter=Path)

    def bytes(self, name: str) -> bytes:
        """The payload `name` as it is in its file."""
        return (self.folder / f"{name}.json").read_bytes()

    def json(self, name: str) -> Any:
        """The payload `name`, parsed."""
        return json.loads(self.bytes(name))

    def changed(self, name: str, **changes: Any) -> dict[str, Any]:
        """The payload `name` (an object) with some keys changed; `...` deletes a key."""
        data: dict[str, Any] = self.json(name)
        for key, value in changes.items():
            if value is ...:
                data.pop(key, None)
            else:
                data[key] = value
        return data

    def response(
        self,
        status: int,
        name: str,
        headers: dict[str, str] | None = None,
        *,
        request: httpx.Request | None = None,
    ) -> httpx.Response:
        """The vendor's answer `status` with the payload `name` as its body, byte for byte
        (to `request`, for an adapter that reads what it sent)."""
        all_headers = _JSON_HEADERS | (headers or {})
        return httpx.Response(
            status, content=self.bytes(name), headers=all_headers, request=request
        )


def answer(
    status: int,
    body: Any,
    headers: dict[str, str] | None = None,
    *,
    request: httpx.Request | None = None,
) -> httpx.Response:
    """A canned answer `status` whose body is `body` written as JSON (to `request`)."""
    return httpx.Response(status, json=body, headers=headers, request=request)


def sent_json(request: httpx.Request) -> Any:
    """The JSON body `request` would send."""
    return json.loads(request.content)


@pytest.fixture
def no_requests_built(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make building any `httpx.Request` fail, to prove validation comes first: a refused
    request must cost nothing, not even a request object."""

    def refuse(*_args: object, **_kwargs: object) -> None:
        pytest.fail("an httpx.Request was built before validation finished")

    monkeypatch.setattr(httpx, "Request", refuse)


def vendor_client(sandbox: Sandbox, key: str | None = None) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` on `sandbox`'s in-process transport and base URL, sending
    `Authorization: Bearer <key>` when `key` is given: the vendor as its callers see it."""
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    return httpx.AsyncClient(
        transport=sandbox.transport(), base_url=sandbox.base_url, headers=headers
    )


class WebhookReceiver:
    """A webhook endpoint for a simulator's `webhook_transport`: it records every
    delivery, answering the first `failures` with 503 (for the vendor to retry) and the
    rest with 204."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.received: list[httpx.Request] = []
        """Every delivery, in order."""

    @property
    def bodies(self) -> list[Any]:
        """The JSON body of every delivery, in order."""
        return [json.loads(request.content) for request in self.received]

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Record `request`; 503 while `failures` last, 204 after."""
        self.received.append(request)
        return httpx.Response(503 if len(self.received) <= self.failures else 204)

    def transport(self) -> httpx.MockTransport:
        """The transport a simulator delivers through."""
        return httpx.MockTransport(self.handle)


def mocked_client(
    url: str,
    handler: Callable[[httpx.Request], httpx.Response]
    | Callable[[httpx.Request], Coroutine[None, None, httpx.Response]],
    **settings: Any,
) -> Client:
    """A client for `url` whose every request goes to `handler` (a respx router's
    `async_handler`, say): a vendor scripted answer by answer. The environment is not
    read, so no variable of the machine running the tests changes the outcome."""
    settings.setdefault("environ", {})
    return connect(url, transport=httpx.MockTransport(handler), **settings)


def simulator_imports(sandbox: Sandbox) -> set[str]:
    """The `coursegen` modules the module of `sandbox`'s class imports. A simulator must
    import only `coursegen.sandbox`: one that imported its adapter could mirror the
    adapter's bugs instead of the vendor's behaviour. A relative import (into the
    provider's own package) raises AssertionError."""
    tree = ast.parse(inspect.getsource(sys.modules[type(sandbox).__module__]))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                msg = "no relative imports into the adapter's package"
                raise AssertionError(msg)
            imported.add(node.module or "")
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    return {name for name in imported if name.startswith("coursegen")}
