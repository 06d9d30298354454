"""Fault knobs: how often a sandbox misbehaves, for reliability tests."""

from __future__ import annotations

from typing import Literal, TypeAlias

import attrs

__all__ = ["FaultKind", "Faults"]

FaultKind: TypeAlias = Literal[
    "reset_before", "reset_after", "error", "malformed", "rate_limited", "stall"
]
"""The fault injected on one request, as `RecordedRequest.fault` names it."""


def _rate(_: object, attribute: attrs.Attribute[float], value: object) -> None:
    if not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValueError(f"{attribute.name} must be a probability from 0 to 1, got {value!r}")


def _seconds(_: object, attribute: attrs.Attribute[float], value: object) -> None:
    if not isinstance(value, int | float) or not value >= 0:
        raise ValueError(f"{attribute.name} must be >= 0 vendor seconds, got {value!r}")


def _counts(_: object, attribute: attrs.Attribute[dict[str, int]], value: object) -> None:
    if not isinstance(value, dict) or not all(
        isinstance(path, str) and isinstance(n, int) and n >= 0 for path, n in value.items()
    ):
        raise ValueError(f"{attribute.name} must map request paths to counts >= 0, got {value!r}")


@attrs.define
class Faults:
    """Probabilities (0 to 1) of each fault per request, plus a fixed latency.

    Mutable on purpose: a test turns a fault on mid-run (`sandbox.faults.error_rate = 1`)
    to hit one exact request. Each draw comes from the sandbox's seeded fault RNG, which
    is separate from the vendor behaviour's RNG, so switching faults on or off never
    changes job ids or durations; a rate of 1.0 makes a fault certain.

    - `error_rate`: the vendor answers 500 with its own error body; nothing is processed.
    - `reset_before_rate`: the connection fails before the vendor sees the request
      (`httpx.ConnectError`); nothing is processed.
    - `reset_after_rate`: the vendor processes the request, then the answer is lost
      (`httpx.ReadError`): a create DID create a job.
    - `malformed_rate`: the vendor processes the request, then a 200 with an unreadable
      body comes back (an HTML proxy page, or the real JSON cut short).
    - `latency`: vendor seconds added before each response.
    - `error_closes_after`: served only: after a 500 the server closes the keep-alive
      connection this many vendor seconds later, without a `Connection: close` header
      (what uvicorn does when a FastAPI app raises, as the real EduMate server does):
      a request sent on that pooled connection meanwhile is never read. None: it stays
      open.
    - `rate_limited`: how many of the next requests the vendor answers 429 (its own
      `Sandbox.rate_limited` answer), telling the client to wait `retry_after` vendor
      seconds; nothing is processed. A count, not a rate: a test refuses exactly the
      requests it means to, then the vendor answers as usual.
    - `stall_rate`: the vendor takes the request and says nothing for `stall_time`
      vendor seconds (a hung worker), then answers as usual, if anyone still listens.
      Drawn only while the rate is above 0, so the other faults' sequence is the one
      a run without stalls has.
    - `lost_answers`: request path -> how many of the next requests to that path the
      vendor processes and whose answer is then lost (`httpx.ReadError`), whatever the
      rates: `{"/chat": 1}` loses exactly the next answer to `POST /chat` (a stage
      two's create, say). A count, like `rate_limited`, and in-process only.

    The connection faults (both resets and `lost_answers`) exist only in-process
    (`Sandbox.transport()`); a served sandbox injects the others.
    """

    error_rate: float = attrs.field(default=0.0, validator=_rate)
    reset_before_rate: float = attrs.field(default=0.0, validator=_rate)
    reset_after_rate: float = attrs.field(default=0.0, validator=_rate)
    latency: float = attrs.field(default=0.0, validator=_seconds)
    malformed_rate: float = attrs.field(default=0.0, validator=_rate)
    error_closes_after: float | None = attrs.field(
        default=None, validator=attrs.validators.optional(_seconds)
    )
    rate_limited: int = attrs.field(default=0, validator=attrs.validators.ge(0))
    retry_after: float = attrs.field(default=10.0, validator=_seconds)
    stall_rate: float = attrs.field(default=0.0, validator=_rate)
    stall_time: float = attrs.field(default=3600.0, validator=_seconds)
    lost_answers: dict[str, int] = attrs.field(factory=dict, validator=_counts)
