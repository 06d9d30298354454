"""Bloom's taxonomy in EduMate's words: the mix a request asks for, the level a question names.

A request's `bloom_mix` is sent as `blooms_requirements` ("5 remember, 3 understand,
..."); the server's questions name their level in words of either taxonomy
("Analyze", "analysis", "Synthesis"), read back as a `BloomLevel` where one fits.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from coursegen import BloomLevel

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["DEFAULT_BLOOM_MIX", "bloom_level", "blooms_or_problem", "blooms_requirements"]

DEFAULT_BLOOM_MIX: Final[Mapping[BloomLevel, int]] = MappingProxyType(
    {
        BloomLevel.REMEMBER: 5,
        BloomLevel.UNDERSTAND: 3,
        BloomLevel.APPLY: 4,
        BloomLevel.ANALYZE: 3,
        BloomLevel.EVALUATE: 2,
        BloomLevel.CREATE: 3,
    }
)
"""The server's default `blooms_requirements`: 20 questions over the six levels."""

_BLOOM_STEMS: Final = (
    # Prefixes of each level's names, old taxonomy included (knowledge, synthesis...).
    (("rememb", "knowledge", "recall"), BloomLevel.REMEMBER),
    (("underst", "comprehen"), BloomLevel.UNDERSTAND),
    (("appl",), BloomLevel.APPLY),
    (("analy",), BloomLevel.ANALYZE),
    (("evaluat",), BloomLevel.EVALUATE),
    (("creat", "synthes"), BloomLevel.CREATE),
)


def blooms_requirements(mix: Mapping[BloomLevel, int]) -> str:
    """EduMate's `blooms_requirements` for a mix: "5 remember, 3 understand, ...".

    Levels go lowest first and levels asked zero times are left out; an empty mix is
    the server's default (`DEFAULT_BLOOM_MIX`). `ValueError` for a mix EduMate cannot take.
    """
    problems: list[str] = []
    text = blooms_or_problem(mix, problems)
    if problems:
        raise ValueError("; ".join(problems))
    return text


def blooms_or_problem(mix: Mapping[Any, Any], problems: list[str]) -> str:
    """The `blooms_requirements` text of `mix`, noting in `problems` why it is invalid."""
    if not mix:
        mix = DEFAULT_BLOOM_MIX
    counts: dict[BloomLevel, int] = {}
    for key, count in mix.items():
        level = key if isinstance(key, BloomLevel) else _exact_level(key)
        if level is None:
            problems.append(
                f"bloom_mix keys must be BloomLevel values, not {key!r} (EduMate knows "
                + ", ".join(level.value for level in BloomLevel)
                + ")"
            )
            continue
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            problems.append(
                f"bloom_mix[{level.value}] must be a whole number of questions >= 0, not {count!r}"
            )
            continue
        counts[level] = counts.get(level, 0) + count
    if not problems and not any(counts.values()):
        problems.append("bloom_mix asks for no questions at all")
    return ", ".join(f"{counts[level]} {level.value}" for level in BloomLevel if counts.get(level))


def _exact_level(value: object) -> BloomLevel | None:
    """The `BloomLevel` named exactly (any case, spaces around), or None."""
    if not isinstance(value, str):
        return None
    try:
        return BloomLevel(value.strip().lower())
    except ValueError:
        return None


def bloom_level(value: str | None) -> BloomLevel | None:
    """The `BloomLevel` a vendor's word names ("Analyze", "analysis", "Synthesis"), or None."""
    if value is None:
        return None
    word = value.strip().lower()
    exact = _exact_level(word)
    if exact is not None:
        return exact
    for stems, level in _BLOOM_STEMS:
        if word.startswith(stems):
            return level
    return None
