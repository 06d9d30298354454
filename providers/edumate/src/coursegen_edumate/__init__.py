"""EduMate provider for coursegen: multiple-choice assessments at chosen Bloom levels.

Installed, it is found through the `coursegen` entry-point group like any plugin:
`coursegen.connect("edumate+http://localhost:8000")` (EduMate is self-hosted and takes
no key), or `coursegen.connect("sandbox+edumate://")` for the built-in simulator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import coursegen

from ._adapter import EduMate
from ._blooms import DEFAULT_BLOOM_MIX, blooms_requirements

if TYPE_CHECKING:
    from .sandbox import EduMateSandbox

__all__ = [
    "DEFAULT_BLOOM_MIX",
    "EduMate",
    "blooms_requirements",
    "coursegen_register_providers",
    "make_sandbox",
]


def make_sandbox(**options: Any) -> EduMateSandbox:
    """The EduMate simulator; imported on demand, so plugin loading stays cheap."""
    from .sandbox import EduMateSandbox  # noqa: PLC0415 - Starlette only when used

    return EduMateSandbox(**options)


@coursegen.hookimpl
def coursegen_register_providers(register: coursegen.Register) -> None:
    register(EduMate, sandbox=make_sandbox)
