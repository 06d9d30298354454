"""Settings handed to an adapter, and the `Secret` that keeps keys out of sight."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

import attrs
import httpx

__all__ = ["Secret", "Settings"]

_MASK: Final = "********"


@attrs.frozen(repr=False, eq=False)
class Secret:
    """A secret string. Every way of printing it shows a mask; `reveal()` gives the value.

    Equality is by value (so two settings with the same key compare equal) but never
    through `str`: there is no accidental way to format it into a message or log line.
    """

    _value: str

    def reveal(self) -> str:
        """The secret's value: for the one place that sends it (an adapter's header)."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({_MASK!r})"

    def __str__(self) -> str:
        return _MASK

    def __format__(self, spec: str) -> str:
        return _MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


def _secret_or_none(value: Secret | str | None) -> Secret | None:
    if value is None or isinstance(value, Secret):
        return value
    return Secret(value)


def _options(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


@attrs.frozen
class Settings:
    """Everything an adapter is built from, already merged from URL, environment and TOML.

    `time_scale` is how many seconds of vendor time pass per second of loop time: 1.0
    against a real vendor, the sandbox's `speed` against a sped-up sandbox. The engine
    divides every vendor duration (floors, hints, rate windows) by it.
    """

    provider: str
    base_url: httpx.URL = attrs.field(converter=httpx.URL)
    api_key: Secret | None = attrs.field(default=None, converter=_secret_or_none)
    webhook_secret: Secret | None = attrs.field(default=None, converter=_secret_or_none)
    strict: bool = True
    time_scale: float = 1.0
    options: Mapping[str, Any] = attrs.field(factory=dict, converter=_options)

    def option(self, name: str, default: Any = None) -> Any:
        """A provider-specific setting (one of the adapter's `option_names`), or `default`."""
        return self.options.get(name, default)
