"""The sandbox toolkit: what every vendor simulator is built on.

A simulator subclasses `Sandbox`, a Starlette app that reproduces one vendor's API on
virtual vendor time. Tests and `connect(..., sandbox=True)` reach it in-process through
`Sandbox.transport()`; `serve()` puts it on loopback for anything else. `Faults` makes it
misbehave, `JobScript` decides what its next jobs do, and `requests` / `webhooks` record
what happened, for assertions.
"""

from __future__ import annotations

from ._base import Sandbox
from ._clock import DEFAULT_EPOCH, VendorClock
from ._faults import FaultKind, Faults
from ._records import DeliveredWebhook, RecordedRequest
from ._script import VENDOR_DEFAULT, JobScript, Outcome, VendorDefault
from ._serve import serve
from ._transport import SandboxTransport

__all__ = [
    "DEFAULT_EPOCH",
    "VENDOR_DEFAULT",
    "DeliveredWebhook",
    "FaultKind",
    "Faults",
    "JobScript",
    "Outcome",
    "RecordedRequest",
    "Sandbox",
    "SandboxTransport",
    "VendorClock",
    "VendorDefault",
    "serve",
]
