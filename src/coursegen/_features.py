"""Checking a request against what its provider can honour, before anything is sent."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from ._errors import UnsupportedFeature

if TYPE_CHECKING:
    from ._adapter import Capabilities

__all__ = ["CourseGenWarning", "UnsupportedFeatureWarning", "check_request"]

R = TypeVar("R", bound=Any)


class CourseGenWarning(UserWarning):
    """Base of coursegen's warnings."""


class UnsupportedFeatureWarning(CourseGenWarning):
    """A request field was dropped because the provider cannot honour it (strict=False)."""


def _default_of(field: attrs.Attribute[Any]) -> Any:
    default = field.default
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type] # attrs types Factory loosely
        return default.factory()  # type: ignore[union-attr] # narrowed by the check above
    return default


def check_request(request: R, capabilities: Capabilities, provider: str, *, strict: bool) -> R:
    """Return `request` if the provider honours every field it sets.

    Otherwise raise `UnsupportedFeature` naming the fields, or, when not `strict`, warn
    and return the request with those fields back at their defaults.
    """
    kinds = capabilities.request_kinds
    if kinds and not isinstance(request, tuple(kinds)):
        raise UnsupportedFeature(
            provider,
            type(request).__name__,
            "this provider makes " + " and ".join(sorted(k.__name__ for k in kinds)),
        )
    unsupported = {
        field.name: _default_of(field)
        for field in attrs.fields(type(request))
        if field.name not in capabilities.request_fields
        and field.default is not attrs.NOTHING
        and getattr(request, field.name) != _default_of(field)
    }
    if not unsupported:
        return request
    if strict:
        raise UnsupportedFeature(provider, tuple(unsupported), droppable=True)
    warnings.warn(
        f"{provider} does not support {', '.join(unsupported)}: dropped from the request",
        UnsupportedFeatureWarning,
        stacklevel=3,
    )
    return attrs.evolve(request, **unsupported)
