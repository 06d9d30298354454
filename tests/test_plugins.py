"""Plugins: a provider registered through the hook and used by configuration alone."""

from __future__ import annotations

import importlib.metadata

import pytest

import coursegen
from coursegen import CourseRequest, Registry
from toy import Toy, ToyPlugin, ToyVendor

pytestmark = pytest.mark.anyio


class _EntryPoint(importlib.metadata.EntryPoint):
    """An entry point whose loading we control, as an installed distribution's would be."""

    def __init__(self, name: str, target: object) -> None:
        super().__init__(name, f"fake:{name}", "coursegen")
        object.__setattr__(self, "_target", target)

    def load(self) -> object:
        target = object.__getattribute__(self, "_target")
        if isinstance(target, BaseException):
            raise target
        return target


def _registry(*entry_points: _EntryPoint, **environ: str) -> Registry:
    return Registry(entry_points=lambda: list(entry_points), environ=environ)


async def test_throwaway_provider_is_used_by_configuration_alone() -> None:
    """A hook-registered provider, never installed, is chosen by COURSEGEN_URL alone."""
    registry = _registry(_EntryPoint("toy", ToyPlugin()))
    vendor = ToyVendor()
    client = coursegen.connect(
        registry=registry,
        environ={"COURSEGEN_URL": "toy://SECRET@toy.example"},
        transport=vendor.transport(),
    )
    async with client:
        job = await client.submit(CourseRequest(subject="Knots"))
        course = await job.result()
    assert client.provider == "toy"
    assert course.id == "j1"
    assert vendor.router.calls[0].request.headers["authorization"] == "Bearer SECRET"


def test_plugin_that_raises_on_import_is_reported_not_fatal() -> None:
    """A plugin failing to import is listed with its error; the other plugins still load."""
    registry = _registry(
        _EntryPoint("broken", ImportError("No module named 'missing_dependency'")),
        _EntryPoint("toy", ToyPlugin()),
    )
    assert set(registry.providers) == {"toy"}
    (failure,) = registry.failures
    assert failure.plugin == "broken"
    assert failure.error == "ImportError: No module named 'missing_dependency'"
    assert "Traceback" in failure.detail


def test_plugin_whose_hook_raises_is_reported_not_fatal() -> None:
    """A plugin whose registration hook raises is reported; the others still register."""

    class Raising:
        @coursegen.hookimpl
        def coursegen_register_providers(self, register: coursegen.Register) -> None:
            raise RuntimeError("boom")

    registry = _registry(_EntryPoint("raising", Raising()), _EntryPoint("toy", ToyPlugin()))
    assert set(registry.providers) == {"toy"}
    assert [(f.plugin, f.error) for f in registry.failures] == [("raising", "RuntimeError: boom")]


def test_registering_something_that_is_not_an_adapter_is_reported() -> None:
    """register() with a non-adapter, or a duplicate name, is reported per plugin."""

    class Confused:
        @coursegen.hookimpl
        def coursegen_register_providers(self, register: coursegen.Register) -> None:
            register(dict)  # type: ignore[arg-type]
            register(Toy)

    registry = _registry(_EntryPoint("toy", ToyPlugin()), _EntryPoint("confused", Confused()))
    assert registry.providers["toy"].plugin == "toy"
    errors = sorted(f.error for f in registry.failures)
    assert "dict is not an adapter" in errors[0]
    assert "already registered by plugin 'toy'" in errors[1]


def test_unknown_provider_names_what_is_installed() -> None:
    """Asking for a provider nobody registered says what is installed and what to install."""
    registry = _registry(_EntryPoint("toy", ToyPlugin()))
    with pytest.raises(coursegen.ConfigurationError) as caught:
        coursegen.connect("tutorflow", registry=registry)
    assert "installed: toy" in str(caught.value)
    assert 'pip install "coursegen[tutorflow]"' in str(caught.value)


def test_unknown_provider_whose_plugin_broke_says_why() -> None:
    """If the provider's own plugin failed to load, the error says so instead."""
    registry = _registry(_EntryPoint("toy", ImportError("no httpx")))
    with pytest.raises(coursegen.ConfigurationError, match="failed to load: ImportError: no httpx"):
        coursegen.connect("toy", registry=registry)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"COURSEGEN_PLUGINS": "toy"}, {"toy"}),
        ({"COURSEGEN_PLUGINS": "other, toy"}, {"toy", "other"}),
        ({"COURSEGEN_DISABLE_PLUGINS": "toy"}, {"other"}),
        ({}, {"toy", "other"}),
    ],
)
def test_plugin_selection_by_environment(environ: dict[str, str], expected: set[str]) -> None:
    """COURSEGEN_PLUGINS loads only the named plugins; COURSEGEN_DISABLE_PLUGINS skips some."""

    class Other(Toy):
        name = "other"

    class OtherPlugin:
        @coursegen.hookimpl
        def coursegen_register_providers(self, register: coursegen.Register) -> None:
            register(Other)

    registry = _registry(
        _EntryPoint("toy", ToyPlugin()), _EntryPoint("other", OtherPlugin()), **environ
    )
    assert set(registry.providers) == expected


def test_installed_providers_come_from_entry_points() -> None:
    """The default registry finds learningstudio through the `coursegen` entry-point group."""
    info = coursegen.default_registry().get("learningstudio")
    assert info.plugin == "learningstudio"
    assert info.version is not None
    assert info.sandbox is not None


class _Counted(_EntryPoint):
    """An entry point that counts its loads: a provider module imported or not."""

    loads = 0

    def load(self) -> object:
        type(self).loads += 1
        return super().load()


def test_lookup_by_name_loads_only_that_plugin() -> None:
    """`get("toy")` imports the plugin named toy alone; listing every provider loads the rest."""
    _Counted.loads = 0
    registry = _registry(_EntryPoint("toy", ToyPlugin()), _Counted("other", ImportError("x")))
    assert registry.get("toy").name == "toy"
    assert _Counted.loads == 0
    assert set(registry.providers) == {"toy"}
    assert _Counted.loads == 1
    assert [f.plugin for f in registry.failures] == ["other"]
