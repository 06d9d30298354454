"""What a sandbox remembers for tests: the requests it saw and the webhooks it sent."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, Final

import attrs

from ._faults import FaultKind

__all__ = ["DeliveredWebhook", "RecordedRequest", "strip_secrets"]

SECRET_HEADERS: Final = frozenset({"authorization", "proxy-authorization", "x-api-key", "cookie"})
"""Headers that carry credentials; a record never keeps them, so no test log leaks a key."""


def strip_secrets(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> Mapping[str, str]:
    """Headers with lower-cased names, minus every credential-bearing one."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return MappingProxyType(
        {name.lower(): value for name, value in pairs if name.lower() not in SECRET_HEADERS}
    )


@attrs.frozen
class RecordedRequest:
    """One request as the sandbox saw it, in the order answered.

    `status` is the vendor's own answer, even when a fault (`fault`) kept the client
    from seeing it: a `reset_after` or `malformed` create with status 202 made a job.
    It is None when the vendor never saw the request (`reset_before`). Headers never
    include credentials.
    """

    method: str
    path: str
    query: str
    status: int | None
    vendor_time: float
    headers: Mapping[str, str] = attrs.field(factory=dict, converter=strip_secrets)
    body: bytes = attrs.field(default=b"", repr=False)
    fault: FaultKind | None = None

    def json(self) -> Any:
        """The request body decoded as JSON (`ValueError` if it is not JSON)."""
        return json.loads(self.body)


@attrs.define
class DeliveredWebhook:
    """One webhook the vendor sent (or would have sent), updated once its delivery ends.

    `vendor_time` is when it fell due. `delivered` is True once the receiver answered 2xx.
    `error` says why a delivery failed; it stays None, with `delivered` False, for a
    webhook that fell due while the sandbox was not running (`async with sandbox`), so it
    was recorded but never attempted. `attempt` counts from 1 for vendors that retry.
    """

    url: str
    event: str
    body: Any
    vendor_time: float
    delivered: bool = False
    error: str | None = None
    status_code: int | None = None
    attempt: int = 1
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    content: bytes = attrs.field(default=b"", repr=False)
