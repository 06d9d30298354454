"""The hook specification: the whole of what a plugin implements to add a provider.

A plugin is any distribution with an entry point in the `coursegen` group that names a
module (or object) carrying `@coursegen.hookimpl` functions:

```python
@coursegen.hookimpl
def coursegen_register_providers(register):
    register(MyVendor, sandbox=make_my_vendor_sandbox)
```

The hook is synchronous and only registers classes: importing a plugin must stay cheap
and side-effect free, and nothing vendor-specific runs until a client is connected.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import pluggy

if TYPE_CHECKING:
    from ._adapter import Adapter
    from .sandbox import Sandbox

__all__ = ["PROJECT", "Register", "SandboxFactory", "hookimpl", "hookspec"]

PROJECT = "coursegen"

hookspec = pluggy.HookspecMarker(PROJECT)
"""Marks the hook specifications of coursegen's plugin interface (pluggy's marker)."""
hookimpl = pluggy.HookimplMarker(PROJECT)
"""Marks a plugin's hook implementation: `@coursegen.hookimpl` above
`coursegen_register_providers(register)`."""

SandboxFactory = Callable[..., "Sandbox"]
"""Builds a provider's simulator; keyword arguments are sandbox options (speed, seed, faults).

`connect()` passes `speed` and `seed` to every factory it calls."""


class Register(Protocol):
    """The `register` callable a plugin's `coursegen_register_providers` hook receives."""

    def __call__(self, adapter: type[Adapter], *, sandbox: SandboxFactory | None = None) -> None:
        """Make `adapter` available under `adapter.name`, with its simulator if it has one."""


class ProviderSpec:
    """The hooks a coursegen plugin may implement."""

    @hookspec
    def coursegen_register_providers(self, register: Register) -> None:
        """Register provider adapter classes by calling `register(AdapterClass, sandbox=...)`."""
