"""LearningStudioAI provider for coursegen.

Installed, it is found through the `coursegen` entry-point group like any plugin:
`coursegen.connect("learningstudio://KEY@learningstudioai.com")`, or
`coursegen.connect("sandbox+learningstudio://")` for the built-in simulator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import coursegen

from ._adapter import LearningStudio

if TYPE_CHECKING:
    from .sandbox import LearningStudioSandbox

__all__ = ["LearningStudio", "coursegen_register_providers", "make_sandbox"]


def make_sandbox(**options: Any) -> LearningStudioSandbox:
    """The LearningStudioAI simulator; imported on demand, so plugin loading stays cheap."""
    from .sandbox import LearningStudioSandbox  # noqa: PLC0415 - Starlette only when used

    return LearningStudioSandbox(**options)


@coursegen.hookimpl
def coursegen_register_providers(register: coursegen.Register) -> None:
    register(LearningStudio, sandbox=make_sandbox)
