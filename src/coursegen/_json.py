"""`to_json` / `from_json`: every request, result and snapshot as JSON text, and back.

One converter, used by the job store, the CLI's `--json` output and users who keep
results in their own JSON columns: datetimes as ISO 8601 text, `Decimal` amounts as
strings (exact), enums by value, frozen mappings and sets as plain JSON objects and lists.
A request's source document (bytes) travels as base64 under `{"base64": ...}`.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar, get_origin

import cattrs

from ._errors import SerializationError

__all__ = ["converter", "from_json", "to_json"]

T = TypeVar("T")

_Source = bytes | str | os.PathLike[str] | None


def _structure_datetime(value: Any, _: type) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def _structure_decimal(value: Any, _: type) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not a decimal amount: {value!r}") from exc


def _unstructure_source(value: _Source) -> Any:
    if value is None:
        return None
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode("ascii")}
    return os.fspath(value)


def _structure_source(value: Any, _: object) -> _Source:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("base64"), str):
        try:
            return base64.b64decode(value["base64"], validate=True)
        except binascii.Error as exc:
            raise ValueError("the source document is not valid base64") from exc
    raise ValueError(f"a source is a path or {{'base64': ...}}, not {type(value).__name__}")


def _is_frozenset(type_: Any) -> bool:
    return type_ is frozenset or get_origin(type_) is frozenset


def _sorted(items: list[Any]) -> list[Any]:
    try:
        return sorted(items)
    except TypeError:  # items of no order (classes): as they come
        return items


def _make() -> cattrs.Converter:
    made = cattrs.Converter()
    made.register_unstructure_hook(datetime, datetime.isoformat)
    made.register_structure_hook(datetime, _structure_datetime)
    made.register_unstructure_hook(Decimal, str)
    made.register_structure_hook(Decimal, _structure_decimal)
    made.register_unstructure_hook(_Source, _unstructure_source)
    made.register_structure_hook(_Source, _structure_source)
    # Sets are unordered; sorted lists keep the text stable (one row, one spelling).
    made.register_unstructure_hook_func(
        _is_frozenset, lambda value: _sorted([made.unstructure(item) for item in value])
    )
    return made


converter = _make()
"""The converter behind `to_json`/`from_json`, for code that wants plain dicts."""


def to_json(obj: Any) -> str:
    """`obj` (a result, snapshot, request, or anything built of them) as JSON text."""
    return json.dumps(converter.unstructure(obj), separators=(",", ":"), ensure_ascii=False)


def from_json(text: str | bytes, type_: type[T]) -> T:
    """The `type_` that `to_json` wrote as `text`; `SerializationError` if it is not one."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise SerializationError(f"not JSON: {exc}") from None
    try:
        return converter.structure(data, type_)
    except (cattrs.BaseValidationError, ValueError, TypeError, KeyError) as exc:
        detail = (
            "; ".join(cattrs.transform_error(exc))
            if isinstance(exc, cattrs.BaseValidationError)
            else str(exc)
        )
        name = getattr(type_, "__name__", str(type_))
        raise SerializationError(f"not a {name}: {detail}") from None
