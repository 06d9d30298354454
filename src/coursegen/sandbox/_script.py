"""Scripted job outcomes: make the next jobs a sandbox creates do exactly what a test needs."""

from __future__ import annotations

import enum
from typing import Final, Literal, TypeAlias

import attrs

__all__ = ["VENDOR_DEFAULT", "JobScript", "Outcome", "VendorDefault"]

Outcome: TypeAlias = Literal["succeed", "fail", "cancel", "expire"]
"""How a scripted job ends. Each simulator accepts the outcomes its vendor can produce."""


class VendorDefault(enum.Enum):
    """The type of `VENDOR_DEFAULT`: "whatever the vendor would normally do"."""

    VENDOR_DEFAULT = "VENDOR_DEFAULT"

    def __repr__(self) -> str:
        return self.value


VENDOR_DEFAULT: Final = VendorDefault.VENDOR_DEFAULT
"""Leaves a scripted field to the vendor; distinct from None, which means "absent"."""


def _non_negative(_: object, attribute: attrs.Attribute[float | None], value: float | None) -> None:
    if value is not None and not value >= 0:
        raise ValueError(f"{attribute.name} must be >= 0 vendor seconds, got {value!r}")


@attrs.frozen
class JobScript:
    """The fate of one job, queued with `Sandbox.script()`.

    - `outcome`: how the job ends.
    - `duration`: vendor seconds from creation to the end (None: the vendor's usual,
      random duration).
    - `statuses`: raw vendor status strings to report, in order and evenly spread over
      the duration, before the outcome's own terminal status. Use it to feed a client
      words it has never seen, e.g. `("pending", "reticulating", "running")`.
    - `error_code`, `error_message`: the failure's reason. `VENDOR_DEFAULT` lets the
      vendor choose; `error_code=None` makes the vendor send no code at all, which is how
      a test reaches a client's "code is best effort" path.
    """

    outcome: Outcome = attrs.field(
        validator=attrs.validators.in_(("succeed", "fail", "cancel", "expire"))
    )
    duration: float | None = attrs.field(default=None, validator=_non_negative)
    statuses: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    error_code: str | VendorDefault | None = VENDOR_DEFAULT
    error_message: str | VendorDefault = VENDOR_DEFAULT
