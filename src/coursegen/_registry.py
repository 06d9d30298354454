"""Finding providers: plugins from the `coursegen` entry-point group, and in-code ones.

Our own providers are found exactly like a third party's: an installed distribution
names a module in the `coursegen` entry-point group, and that module's
`coursegen_register_providers` hook registers adapter classes. Each plugin is loaded and
called on its own: one that fails to import, raises in its hook, or registers something
that is not an adapter is recorded in `failures` (the `coursegen providers` command
shows why) and the others load as usual.

`COURSEGEN_PLUGINS` (comma-separated entry-point names) loads only those;
`COURSEGEN_DISABLE_PLUGINS` skips those.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import os
import re
import threading
import traceback
from typing import TYPE_CHECKING, Any

import attrs
import pluggy

from ._adapter import Adapter
from ._errors import ConfigurationError
from ._hooks import PROJECT, ProviderSpec, SandboxFactory

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping


__all__ = ["PluginFailure", "ProviderInfo", "Registry", "default_registry"]

_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
FIRST_PARTY = ("learningstudio", "tutorflow", "edumate")
"""The providers this project ships, each its own distribution and `coursegen` extra."""


def install_command(provider: str) -> str:
    """The pip command that installs one of our providers (`coursegen[all]`: every one)."""
    return f'pip install "coursegen[{provider}]"'


_REQUIRED = ("name", "default_base_url", "capabilities", "policy", "from_settings")


@attrs.frozen
class ProviderInfo:
    """A registered provider: its adapter class, simulator, and the plugin that gave them."""

    name: str
    adapter: type[Adapter]
    sandbox: SandboxFactory | None
    plugin: str
    version: str | None


@attrs.frozen
class PluginFailure:
    """A plugin that could not be used, and why (its error, without the traceback noise)."""

    plugin: str
    error: str
    detail: str = attrs.field(repr=False, default="")


def _split(value: str | None) -> frozenset[str] | None:
    if value is None or not value.strip():
        return None
    return frozenset(part.strip() for part in value.split(",") if part.strip())


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class Registry:
    """The providers one process can use. `default_registry()` is the shared one."""

    def __init__(
        self,
        *,
        entry_points: Callable[[], Iterable[importlib.metadata.EntryPoint]] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._entry_points = entry_points or (
            lambda: importlib.metadata.entry_points(group=PROJECT)
        )
        self._environ = os.environ if environ is None else environ
        self._manager = pluggy.PluginManager(PROJECT)
        self._manager.add_hookspecs(ProviderSpec)
        self._loaded = False
        self._tried: set[str] = set()  # entry points loaded (or failed to) so far
        self._providers: dict[str, ProviderInfo] | None = None
        self._failures: list[PluginFailure] = []
        self._call_failures: tuple[PluginFailure, ...] = ()
        self._versions: dict[str, str] = {}
        self._lock = threading.Lock()

    # -- plugins ------------------------------------------------------------------------

    def register_plugin(self, plugin: object, name: str | None = None) -> None:
        """Add a plugin object (a module or instance with hookimpls) from code."""
        self._manager.register(plugin, name=name)
        self._providers = None

    def unregister_plugin(self, plugin: object) -> None:
        """Remove a plugin added by `register_plugin` (or loaded from an entry point)."""
        self._manager.unregister(plugin)
        self._providers = None

    def _load_entry_points(self, named: str | None = None) -> None:
        """Load every plugin (or, with `named`, only the entry point of that name)."""
        only = _split(self._environ.get("COURSEGEN_PLUGINS"))
        skip = _split(self._environ.get("COURSEGEN_DISABLE_PLUGINS")) or frozenset()
        for entry_point in self._entry_points():
            if (only is not None and entry_point.name not in only) or entry_point.name in skip:
                continue
            if named is not None and entry_point.name != named:
                continue
            if self._manager.has_plugin(entry_point.name) or entry_point.name in self._tried:
                continue
            self._tried.add(entry_point.name)
            try:
                plugin = entry_point.load()
                self._manager.register(plugin, name=entry_point.name)
            except Exception as exc:  # noqa: BLE001 - any failure of a plugin is its own
                self._failures.append(
                    PluginFailure(entry_point.name, _describe(exc), traceback.format_exc())
                )
            else:
                dist = entry_point.dist
                if dist is not None:
                    self._versions[entry_point.name] = dist.version
            self._providers = None
        if named is None:
            self._loaded = True

    # -- providers ----------------------------------------------------------------------

    @property
    def providers(self) -> Mapping[str, ProviderInfo]:
        """Every usable provider, by name."""
        return self._collect()[0]

    @property
    def failures(self) -> tuple[PluginFailure, ...]:
        """Plugins that could not be loaded or registered nothing usable, and why."""
        return self._collect()[1]

    def get(self, name: str) -> ProviderInfo:
        """The provider called `name`; `ConfigurationError` naming the nearest or the fix."""
        # A plugin is usually named after its provider: load that one alone first, so a
        # lookup imports one provider's modules, not every installed one's.
        with self._lock:
            # Found before: no scan of the installed distributions (tens of milliseconds
            # each, and a fleet's worker connects once per scope it takes).
            known_info = self._providers.get(name) if self._providers is not None else None
            if known_info is not None:
                return known_info
            if not self._loaded:
                self._load_entry_points(named=name)
                if self._providers is None:
                    self._providers, self._call_failures = self._call_hooks()
                info = self._providers.get(name)
                if info is not None:
                    return info
        providers, failures = self._collect()
        info = providers.get(name)
        if info is not None:
            return info
        known = ", ".join(sorted(providers)) or "none"
        broken = [f for f in failures if f.plugin == name or name in f.error]
        near = difflib.get_close_matches(name, sorted({*providers, *FIRST_PARTY}), n=1)
        if broken:
            hint = f"; plugin {broken[0].plugin!r} failed to load: {broken[0].error}"
        elif near and near[0] in providers:
            hint = f"; did you mean {near[0]!r}?"
        elif name in FIRST_PARTY:
            hint = f"; install it: {install_command(name)}"
        elif near:
            hint = f"; did you mean {near[0]!r} ({install_command(near[0])})?"
        else:
            hint = "; install the plugin that provides it (see `coursegen providers`)"
        raise ConfigurationError(f"unknown provider {name!r} (installed: {known}){hint}")

    def _collect(self) -> tuple[dict[str, ProviderInfo], tuple[PluginFailure, ...]]:
        with self._lock:
            if not self._loaded:
                self._load_entry_points()
            if self._providers is None:
                self._providers, self._call_failures = self._call_hooks()
            return self._providers, (*self._failures, *self._call_failures)

    def _call_hooks(self) -> tuple[dict[str, ProviderInfo], tuple[PluginFailure, ...]]:
        providers: dict[str, ProviderInfo] = {}
        failures: list[PluginFailure] = []
        # Each implementation is called alone, so one that raises cannot take the
        # others down (pluggy's own hook call would stop at the first exception).
        for impl in self._manager.hook.coursegen_register_providers.get_hookimpls():
            plugin_name = impl.plugin_name
            version = self._versions.get(plugin_name)

            def register(
                adapter: type[Adapter],
                *,
                sandbox: SandboxFactory | None = None,
                _plugin: str = plugin_name,
                _version: str | None = version,
            ) -> None:
                problem = _check_adapter(adapter)
                if problem:
                    failures.append(PluginFailure(_plugin, problem))
                    return
                name: str = adapter.name
                existing = providers.get(name)
                if existing is not None:
                    failures.append(
                        PluginFailure(
                            _plugin,
                            f"provider {name!r} is already registered by plugin "
                            f"{existing.plugin!r}; this one is ignored",
                        )
                    )
                    return
                providers[name] = ProviderInfo(name, adapter, sandbox, _plugin, _version)

            try:
                impl.function(register=register)
            except Exception as exc:  # noqa: BLE001 - a broken plugin is reported, not fatal
                failures.append(PluginFailure(plugin_name, _describe(exc), traceback.format_exc()))
        return providers, tuple(failures)


def _check_adapter(adapter: Any) -> str | None:
    if not isinstance(adapter, type):
        return f"register() takes an adapter class, not {type(adapter).__name__}"
    missing = [attr for attr in _REQUIRED if not hasattr(adapter, attr)]
    if missing:
        return f"{adapter.__qualname__} is not an adapter: it lacks {', '.join(missing)}"
    name = getattr(adapter, "name", None)
    if not isinstance(name, str) or not _NAME.match(name):
        return (
            f"{adapter.__qualname__}.name must be a lowercase identifier usable as a "
            f"URL scheme, not {name!r}"
        )
    return None


_default: Registry | None = None
_default_lock = threading.Lock()


def default_registry() -> Registry:
    """The process-wide registry, loaded from installed plugins on first use."""
    global _default  # noqa: PLW0603 - one lazily built registry per process, like logging's root
    with _default_lock:
        if _default is None:
            _default = Registry()
        return _default
