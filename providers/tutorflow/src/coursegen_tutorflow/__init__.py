"""TutorFlow Agent Platform provider for coursegen.

Installed, it is found through the `coursegen` entry-point group like any plugin:
`coursegen.connect("tutorflow://tf_platform_KEY@api.tutorflow.io")`, or
`coursegen.connect("sandbox+tutorflow://")` for the built-in simulator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import coursegen

from ._adapter import TutorFlow

if TYPE_CHECKING:
    from .sandbox import TutorFlowSandbox

__all__ = ["TutorFlow", "coursegen_register_providers", "make_sandbox"]


def make_sandbox(**options: Any) -> TutorFlowSandbox:
    """The TutorFlow simulator; imported on demand, so plugin loading stays cheap."""
    from .sandbox import TutorFlowSandbox  # noqa: PLC0415 - Starlette only when used

    return TutorFlowSandbox(**options)


@coursegen.hookimpl
def coursegen_register_providers(register: coursegen.Register) -> None:
    register(TutorFlow, sandbox=make_sandbox)
